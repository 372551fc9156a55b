-- Stream rewriting from Lua (ABI 1.4 through the tianshu table): declared advisory.
plugin = { name = "stream_rewrite", advisory = true }

function on_stream_event(req, ev)
    if ev.type ~= "content_block_delta" then return end
    if ev.text == "secret" then
        tianshu.drop_event()
    elseif ev.text == "hold" then
        assert(tianshu.hold_event())
    elseif ev.text == "flush" then
        local first = tianshu.held_event(1)
        assert(first.delta.text == "hold", "held_event(1) is the oldest")
        assert(tianshu.held_event(tianshu.held_count() + 1) == nil)
        tianshu.emit_event({ type = "ping" })
        tianshu.release_held()
    elseif ev.text == "replace" then
        local e = tianshu.event()
        e.delta.text = "replaced"
        tianshu.set_event(e)
    elseif ev.text == "forget" then
        tianshu.discard_held()
    elseif ev.text == "bad" then
        tianshu.emit_event({ type = "nonsense" })
    end
end
