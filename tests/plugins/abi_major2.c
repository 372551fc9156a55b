/* Declares ABI 2.0: the host must refuse it, naming both versions. */
#include <tianshu/abi.h>

static ts_instance* create(const ts_host_api* host, ts_str config, ts_error* err) {
    (void)host;
    (void)config;
    (void)err;
    return (ts_instance*)0;
}
static void destroy(ts_instance* instance) {
    (void)instance;
}

static const ts_plugin_descriptor descriptor = {sizeof(ts_plugin_descriptor),
                                                2,
                                                0,
                                                "abi_major2",
                                                "2.0.0",
                                                TS_KIND_STRATEGY,
                                                0,
                                                NULL,
                                                create,
                                                destroy,
                                                NULL,
                                                NULL,
                                                NULL,
                                                NULL,
                                                "from the future"};

TS_EXPORT const ts_plugin_descriptor* tianshu_plugin_entry(uint16_t host_major,
                                                           uint16_t host_minor) {
    (void)host_major;
    (void)host_minor;
    return &descriptor;
}
