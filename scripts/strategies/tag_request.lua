-- Adds a note to the system prompt, e.g. a house style or a reminder of the deployment.
-- config: { "note": "Answer in English.", "position": "end" | "start" }

plugin = {
    name = "tag_request",
    version = "1.0.0",
    description = "Adds a configured note to the start or end of the system prompt",
    config_schema = [[{
        "type": "object",
        "properties": {
            "note": {"type": "string", "minLength": 1},
            "position": {"enum": ["start", "end"]}
        },
        "required": ["note"],
        "additionalProperties": false
    }]],
}

function on_request(req)
    local note = config.note
    if type(note) ~= "string" or note == "" then return end
    local system = tianshu.system()
    if system == "" then
        tianshu.set_system(note)
    elseif config.position == "start" then
        tianshu.set_system(note .. "\n\n" .. system)
    else
        tianshu.set_system(system .. "\n\n" .. note)
    end
end
