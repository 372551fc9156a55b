-- Test-only post strategy: uppercases the text of each text delta and, at
-- the end of the response, logs how long the answer was through tianshu.log.
plugin = {
    name = "lua_post",
    version = "1.0.0",
    description = "Uppercases streamed text and logs the answer length (integration test)",
}

function on_stream_event(req, ev)
    if ev.type == "content_block_delta" and ev.kind == "text" then
        ev.text = ev.text:upper()
    end
end

function on_response_end(req)
    tianshu.log("info", "lua_post saw the end: " .. #tianshu.response_text() .. " bytes")
end
