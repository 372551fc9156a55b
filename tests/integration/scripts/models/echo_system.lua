-- Test-only model: answers with what it was given, so a test can see what the pre strategies did.
plugin = {
    name = "echo_system",
    version = "1.0.0",
    description = "Echoes the target model, the system prompt and the last user text (integration test)",
}

function generate(req)
    tianshu.emit("model=" .. tianshu.model())
    tianshu.emit(" system=[" .. tianshu.system() .. "]")
    tianshu.emit(" user=[" .. tianshu.last_user_text() .. "]")
    tianshu.finish("end_turn")
end
