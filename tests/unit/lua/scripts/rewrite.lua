plugin = { name = "rewrite", version = "2.1.0", description = "rewrites the request" }
function on_request(req)
    tianshu.set_system("[" .. tianshu.system() .. "] " .. config.suffix)
    tianshu.set("/max_tokens", 77)
    tianshu.set("/temperature", 0.25)
    tianshu.set("/metadata", { user_id = "u-" .. req.id })
    if tianshu.get("/messages/0/content/0/text") == "route me" then
        tianshu.set_model(config.target)
    end
end
