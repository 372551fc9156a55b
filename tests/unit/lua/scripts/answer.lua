function on_request(req)
    if tianshu.last_user_text():find("ping", 1, true) then
        tianshu.answer("pong from " .. tianshu.model())
        return "answered"
    end
end
