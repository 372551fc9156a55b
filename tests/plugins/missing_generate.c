/* A model without generate: the host must refuse it, naming the hook. */
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
                                                TS_ABI_MAJOR,
                                                TS_ABI_MINOR,
                                                "missing_generate",
                                                "1.0.0",
                                                TS_KIND_MODEL,
                                                0,
                                                NULL,
                                                create,
                                                destroy,
                                                NULL,
                                                NULL,
                                                NULL,
                                                NULL,
                                                NULL};

TS_EXPORT const ts_plugin_descriptor* tianshu_plugin_entry(uint16_t host_major,
                                                           uint16_t host_minor) {
    (void)host_major;
    (void)host_minor;
    return &descriptor;
}
