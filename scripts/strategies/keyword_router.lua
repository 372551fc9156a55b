-- Chooses the target model from keywords in the last user message.
-- config: { "routes": [ {"keywords": ["sql", "python"], "model": "deepseek-coder"}, ... ],
--           "default": "deepseek-chat" (optional: leave the model unchanged when absent) }
-- Routes are tried in order; matching is case-insensitive and on plain substrings.

plugin = {
    name = "keyword_router",
    version = "1.0.0",
    description = "Sets the model by matching keywords in the last user message",
    config_schema = [[{
        "type": "object",
        "properties": {
            "routes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "keywords": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                        "model": {"type": "string", "minLength": 1}
                    },
                    "required": ["keywords", "model"]
                }
            },
            "default": {"type": "string", "minLength": 1}
        },
        "required": ["routes"],
        "additionalProperties": false
    }]],
}

function on_request(req)
    local text = tianshu.last_user_text():lower()
    for _, route in ipairs(config.routes or {}) do
        for _, keyword in ipairs(route.keywords or {}) do
            if text:find(keyword:lower(), 1, true) then
                tianshu.set_model(route.model)
                return
            end
        end
    end
    if config.default then tianshu.set_model(config.default) end
end
