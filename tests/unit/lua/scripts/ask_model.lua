function on_request(req)
    local answer, err = tianshu.call_model("classifier", "classify: " .. tianshu.last_user_text())
    if answer then
        tianshu.set_model(answer)
    else
        tianshu.set_system("call_model failed: " .. err)
    end
end
