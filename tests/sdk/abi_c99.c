/* abi.h must compile as strict C99/C11 with every warning an error. */
#include <tianshu/abi.h>

static ts_hook_result on_request(ts_instance* instance, ts_request* request, ts_error* err) {
    (void)instance;
    (void)request;
    (void)err;
    return TS_HOOK_CONTINUE;
}

int abi_c99_check(const ts_host_api* host);
int abi_c99_check(const ts_host_api* host) {
    ts_plugin_descriptor d = {0};
    d.struct_size = sizeof d;
    d.on_request = on_request;
    return (int)TS_DESCRIPTOR_SIZE_1_0 + (TS_HOST_HAS(host, request_attribute) ? 1 : 0) +
           (int)d.struct_size;
}
