-- Test-only pre strategy: asks config.model config.times questions through call_model (side
-- calls, billed with the request), then lets the request go on; notes how many were answered
-- and the first refusal, so a test sees the call budget.
plugin = {
    name = "side_asker",
    version = "1.0.0",
    description = "Makes call_model side calls (integration test of their metering)",
}

function on_request(req)
    local answered, refusal = 0, "none"
    for _ = 1, (config.times or 1) do
        local text, err = tianshu.call_model(config.model, "a side question")
        if text then
            answered = answered + 1
        elseif refusal == "none" then
            refusal = err
        end
    end
    tianshu.decision_note("side_calls", "answered " .. answered .. "; first refusal: " .. refusal)
end
