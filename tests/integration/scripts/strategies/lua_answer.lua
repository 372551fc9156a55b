-- Test-only: answers directly with config.answer when the last user text contains config.match.
plugin = {
    name = "lua_answer",
    version = "1.0.0",
    description = "Answers directly on a phrase (integration test)",
    config_schema = [[{
        "type": "object",
        "properties": {"match": {"type": "string", "minLength": 1}, "answer": {"type": "string"}},
        "required": ["match", "answer"],
        "additionalProperties": false
    }]],
}

function on_request(req)
    if tianshu.last_user_text():find(config.match, 1, true) then
        tianshu.answer(config.answer)
        return "answered"
    end
end
