/* Pure C: every on_request fails with a message; the host must report it and keep working. */
#include <stdio.h>
#include <tianshu/abi.h>

static int instance_token;
static const ts_host_api* g_host;

static ts_instance* create(const ts_host_api* host, ts_str config, ts_error* err) {
    (void)config;
    (void)err;
    g_host = host;
    return (ts_instance*)&instance_token;
}
static void destroy(ts_instance* instance) {
    (void)instance;
}

static ts_hook_result on_request(ts_instance* instance, ts_request* request, ts_error* err) {
    ts_str model = g_host->request_model(request);
    (void)instance;
    snprintf(err->message, sizeof err->message, "quota service unreachable for model %.*s",
             (int)model.len, model.ptr);
    return TS_HOOK_FAIL;
}

static const ts_plugin_descriptor descriptor = {sizeof(ts_plugin_descriptor),
                                                TS_ABI_MAJOR,
                                                TS_ABI_MINOR,
                                                "fails_status",
                                                "1.0.0",
                                                TS_KIND_STRATEGY,
                                                0,
                                                NULL,
                                                create,
                                                destroy,
                                                on_request,
                                                NULL,
                                                NULL,
                                                NULL,
                                                "Always fails (test)."};

TS_EXPORT const ts_plugin_descriptor* tianshu_plugin_entry(uint16_t host_major,
                                                           uint16_t host_minor) {
    (void)host_major;
    (void)host_minor;
    return &descriptor;
}
