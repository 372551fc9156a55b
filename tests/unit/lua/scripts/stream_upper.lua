function on_stream_event(req, ev)
    if ev.type == "content_block_delta" and ev.kind == "text" then
        ev.text = ev.text:upper()
    end
end
function on_response_end(req)
    tianshu.log("info", "response was: " .. tianshu.response_text())
end
