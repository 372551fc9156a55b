function generate(req)
    tianshu.emit("you said:")
    tianshu.emit(" " .. tianshu.last_user_text())
    tianshu.finish("end_turn")
end
