/* A plugin built against ABI 1.0: its descriptor ends before `description`. The bytes after
 * it are garbage on purpose — the host must not read them (rule 3). */
#include <stddef.h>
#include <string.h>
#include <tianshu/abi.h>

static int instance_token;

static ts_instance* create(const ts_host_api* host, ts_str config, ts_error* err) {
    (void)host;
    (void)config;
    (void)err;
    return (ts_instance*)&instance_token;
}
static void destroy(ts_instance* instance) {
    (void)instance;
}

static ts_hook_result on_request(ts_instance* instance, ts_request* request, ts_error* err) {
    (void)instance;
    (void)request;
    (void)err;
    return TS_HOOK_CONTINUE;
}

/* The 1.0 descriptor followed by a poisoned pointer where 1.1 put `description`. */
static struct { ts_plugin_descriptor d; } storage;

TS_EXPORT const ts_plugin_descriptor* tianshu_plugin_entry(uint16_t host_major,
                                                           uint16_t host_minor) {
    (void)host_major;
    (void)host_minor;
    memset(&storage, 0xAB, sizeof storage);
    storage.d.struct_size = (uint32_t)TS_DESCRIPTOR_SIZE_1_0;
    storage.d.abi_major = 1;
    storage.d.abi_minor = 0;
    storage.d.name = "old_minor";
    storage.d.version = "0.9.0";
    storage.d.kind = TS_KIND_STRATEGY;
    storage.d.flags = 0;
    storage.d.config_schema = NULL;
    storage.d.create = create;
    storage.d.destroy = destroy;
    storage.d.on_request = on_request;
    storage.d.on_stream_event = NULL;
    storage.d.on_response_end = NULL;
    storage.d.generate = NULL;
    return &storage.d;
}
