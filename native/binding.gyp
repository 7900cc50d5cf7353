{
  "targets": [
    {
      "target_name": "ipsec6in4_native",
      "sources": ["tun.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["tun.c"], "sources": ["unsupported.c"] }]
      ]
    }
  ]
}
