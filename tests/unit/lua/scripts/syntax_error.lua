function on_request(req)
    local x = = 1
end
