/* Non-Linux platforms: the addon builds but only says why it cannot help. */
#include <node_api.h>

static napi_value init(napi_env env, napi_value exports) {
  napi_value v;
  napi_create_string_utf8(env, "the native addon supports Linux only (TUN devices, raw IPv4 sockets)", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "unsupported", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
