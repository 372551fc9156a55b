/* A shared object without tianshu_plugin_entry. */
int not_a_plugin_answer(void) {
    return 42;
}
