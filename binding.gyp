{
  "variables": {
    "lt_cflags": ["-std=c11", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-function", "-fPIC"]
  },
  "targets": [
    {
      "target_name": "llama_ts_native",
      "sources": ["native/addon.c", "native/pool.c", "native/kernels.c", "native/isa_scalar.c", "native/train.c", "native/train_napi.c", "native/quant.c", "native/quant_addon.c", "native/quant_k8.c", "native/mmap.c", "native/quant_bf16.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["<@(lt_cflags)"],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "conditions": [
        ["target_arch=='x64'", {"dependencies": ["llama_ts_avx2", "llama_ts_avx512", "llama_ts_qk8_avx2", "llama_ts_qk8_avx512"]}]
      ]
    },
    {
      "target_name": "llama_ts_avx2",
      "type": "static_library",
      "sources": ["native/isa_avx2.c"],
      "cflags_c": ["<@(lt_cflags)"],
      "conditions": [
        ["target_arch=='x64'", {"cflags_c": ["-mavx2", "-mfma"]}]
      ]
    },
    {
      "target_name": "llama_ts_avx512",
      "type": "static_library",
      "sources": ["native/isa_avx512.c"],
      "cflags_c": ["<@(lt_cflags)"],
      "conditions": [
        ["target_arch=='x64'", {"cflags_c": ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mavx2", "-mfma"]}]
      ]
    },
    {
      "target_name": "llama_ts_qk8_avx2",
      "type": "static_library",
      "sources": ["native/quant_k8_avx2.c"],
      "cflags_c": ["<@(lt_cflags)"],
      "conditions": [
        ["target_arch=='x64'", {"cflags_c": ["-mavx2", "-mfma", "-mf16c"]}]
      ]
    },
    {
      "target_name": "llama_ts_qk8_avx512",
      "type": "static_library",
      "sources": ["native/quant_k8_avx512.c"],
      "cflags_c": ["<@(lt_cflags)"],
      "conditions": [
        ["target_arch=='x64'", {"cflags_c": ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c"]}]
      ]
    }
  ]
}
