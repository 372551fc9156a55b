-- call_model with a time box (ABI 1.4's timeout_ms argument).
function on_request(req)
    local answer = tianshu.call_model("classifier", "classify", 250)
    if answer then tianshu.set_model(answer) end
end
