-- The benchmark's strategy: reads the model, sets a model.
function on_request(req)
    local m = tianshu.model()
    if m == "claude-sonnet" then tianshu.set_model("deepseek-chat") end
end
