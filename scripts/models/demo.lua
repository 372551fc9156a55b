-- Tianshu's demo model: the first thing a newcomer talks to. It answers without any network,
-- says what it is, echoes the question, and explains how to add a real upstream channel.
-- The answer streams word by word through tianshu.emit; config.delay_ms paces the stream
-- (load tests use it to hold slow streams open).

plugin = {
    name = "demo",
    version = "1.0.0",
    description = "Offline demo model: a friendly streamed reply explaining how to add a real channel",
    config_schema = [[{
        "type": "object",
        "properties": {
            "delay_ms": {"type": "integer", "minimum": 0, "maximum": 60000,
                         "description": "pause between streamed words, in milliseconds"}
        },
        "additionalProperties": false
    }]],
}

local function shorten(text, limit)
    text = text:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
    if utf8.len(text) and utf8.len(text) > limit then
        text = text:sub(1, utf8.offset(text, limit + 1) - 1) .. "…"
    end
    return text
end

local function reply_for(question)
    local parts = { "Hello! I am the demo model of Tianshu, answering offline: no upstream model was called." }
    if question ~= "" then
        parts[#parts + 1] = 'You asked: "' .. shorten(question, 200) .. '".'
    else
        parts[#parts + 1] = "Your request had no text for me to read."
    end
    parts[#parts + 1] = "To get real answers, add a channel in the admin panel (/admin → Channels):"
        .. " pick a provider such as DeepSeek, Qwen, GLM or Kimi, paste its API key,"
        .. " and map a model name to it; then send your request to that model instead of \"demo\"."
    return table.concat(parts, " ")
end

function generate(req)
    local delay = math.tointeger(config.delay_ms) or 0
    local text = reply_for(tianshu.last_user_text())
    local first = true
    for word in text:gmatch("%S+") do
        if delay > 0 and not first then
            if not tianshu.sleep_ms(delay) then break end  -- the request's deadline is near
        end
        if not tianshu.emit(first and word or (" " .. word)) then return end  -- client gone
        first = false
    end
    tianshu.finish("end_turn")
end
