/*
 * Node-API bindings. Every entry point checks its arguments (Float32Array, non-negative integer
 * sizes, lengths large enough for the sizes; the helpers are napi_util.h's) before touching
 * memory; the TypeScript wrapper in src/kernels/native.ts checks the same first, with friendlier
 * messages.
 *
 * The instruction set is chosen once at load: the best the CPU supports, or LLAMA_TS_ISA
 * (avx512 | avx2 | scalar) when set; setIsa() switches it later (tests cover every path).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>

#include "lt.h"
#include "napi_util.h"

/* training kernels (train_napi.c) */
napi_status lt_train_register(napi_env env, napi_value exports);
/* quantised-weight products (quant_addon.c) */
napi_status lt_quant_register(napi_env env, napi_value exports);
/* read-only file mappings (mmap.c) */
napi_status lt_mmap_register(napi_env env, napi_value exports);

/* ---- instruction sets ---- */

static int cpu_has_avx2(void) {
#ifdef LT_X86_64
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

static int cpu_has_avx512(void) {
#ifdef LT_X86_64
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f");
#else
  return 0;
#endif
}

/* NULL if the name is unknown; *supported says whether this CPU can run it. */
static const lt_ops *isa_by_name(const char *name, int *supported) {
  *supported = 0;
  if (strcmp(name, "scalar") == 0) {
    *supported = 1;
    return &lt_ops_scalar;
  }
#ifdef LT_X86_64
  if (strcmp(name, "avx2") == 0) {
    *supported = cpu_has_avx2();
    return &lt_ops_avx2;
  }
  if (strcmp(name, "avx512") == 0) {
    *supported = cpu_has_avx512();
    return &lt_ops_avx512;
  }
#else
  if (strcmp(name, "avx2") == 0 || strcmp(name, "avx512") == 0) return &lt_ops_scalar;
#endif
  return NULL;
}

static const lt_ops *best_isa(void) {
#ifdef LT_X86_64
  if (cpu_has_avx512()) return &lt_ops_avx512;
  if (cpu_has_avx2()) return &lt_ops_avx2;
#endif
  return &lt_ops_scalar;
}

/* ---- kernels ---- */

static napi_value js_matmul(napi_env env, napi_callback_info info) {
  static const char *fn = "matmul";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *a, *w;
  size_t lo, la, lw, m, n, k;
  if (!lt_napi_args(env, info, argv, 6, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "a", &a, &la) || !lt_napi_f32(env, argv[2], fn, "w", &w, &lw) ||
      !lt_napi_size(env, argv[3], fn, "m", &m) || !lt_napi_size(env, argv[4], fn, "n", &n) ||
      !lt_napi_size(env, argv[5], fn, "k", &k) || !lt_napi_need(env, fn, "out", lo, m, n, 1) ||
      !lt_napi_need(env, fn, "a", la, m, k, 1) || !lt_napi_need(env, fn, "w", lw, n, k, 1))
    return NULL;
  if (lt_matmul(out, a, w, m, n, k) != 0) return lt_napi_oom(env, fn);
  return lt_napi_undefined(env);
}

static napi_value js_matvec(napi_env env, napi_callback_info info) {
  static const char *fn = "matvec";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *w, *x;
  size_t lo, lw, lx, n, k;
  if (!lt_napi_args(env, info, argv, 5, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "w", &w, &lw) || !lt_napi_f32(env, argv[2], fn, "x", &x, &lx) ||
      !lt_napi_size(env, argv[3], fn, "n", &n) || !lt_napi_size(env, argv[4], fn, "k", &k) ||
      !lt_napi_need(env, fn, "out", lo, n, 1, 1) || !lt_napi_need(env, fn, "w", lw, n, k, 1) ||
      !lt_napi_need(env, fn, "x", lx, k, 1, 1))
    return NULL;
  lt_matvec(out, w, x, n, k);
  return lt_napi_undefined(env);
}

static napi_value js_rmsnorm(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnorm";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *x, *w;
  size_t lo, lx, lw, rows, dim;
  double eps;
  if (!lt_napi_args(env, info, argv, 6, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "x", &x, &lx) || !lt_napi_f32(env, argv[2], fn, "weight", &w, &lw) ||
      !lt_napi_size(env, argv[3], fn, "rows", &rows) || !lt_napi_size(env, argv[4], fn, "dim", &dim) ||
      !lt_napi_need(env, fn, "out", lo, rows, dim, 1) || !lt_napi_need(env, fn, "x", lx, rows, dim, 1) ||
      !lt_napi_need(env, fn, "weight", lw, dim, 1, 1))
    return NULL;
  if (napi_get_value_double(env, argv[5], &eps) != napi_ok || !(eps >= 0) || isinf(eps)) {
    lt_napi_throw(env, fn, "eps must be a finite number >= 0");
    return NULL;
  }
  lt_rmsnorm(out, x, w, rows, dim, (float)eps);
  return lt_napi_undefined(env);
}

static napi_value js_rope(napi_env env, napi_callback_info info) {
  static const char *fn = "rope";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *x, *c, *s;
  size_t lx, lc, ls, rows, heads, hd, pos0;
  if (!lt_napi_args(env, info, argv, 7, fn) || !lt_napi_f32(env, argv[0], fn, "x", &x, &lx) ||
      !lt_napi_size(env, argv[1], fn, "rows", &rows) || !lt_napi_size(env, argv[2], fn, "nHeads", &heads) ||
      !lt_napi_size(env, argv[3], fn, "headDim", &hd) || !lt_napi_size(env, argv[4], fn, "pos0", &pos0) ||
      !lt_napi_f32(env, argv[5], fn, "cos", &c, &lc) || !lt_napi_f32(env, argv[6], fn, "sin", &s, &ls))
    return NULL;
  if (hd % 2 != 0) {
    lt_napi_throw(env, fn, "headDim must be even");
    return NULL;
  }
  if (!lt_napi_need(env, fn, "x", lx, rows, heads, hd)) return NULL;
  if (rows > 0 && hd > 0) {
    if (pos0 > 9007199254740991.0 - (double)rows) {
      lt_napi_throw(env, fn, "pos0 + rows overflows");
      return NULL;
    }
    if (!lt_napi_need(env, fn, "cos", lc, pos0 + rows, hd / 2, 1) ||
        !lt_napi_need(env, fn, "sin", ls, pos0 + rows, hd / 2, 1))
      return NULL;
  }
  lt_rope(x, rows, heads, hd, pos0, c, s);
  return lt_napi_undefined(env);
}

static napi_value js_attention(napi_env env, napi_callback_info info) {
  static const char *fn = "attention";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *q, *k, *v;
  size_t lo, lq, lk, lv, rows, pos0, heads, kvh, hd;
  if (!lt_napi_args(env, info, argv, 9, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "q", &q, &lq) || !lt_napi_f32(env, argv[2], fn, "k", &k, &lk) ||
      !lt_napi_f32(env, argv[3], fn, "v", &v, &lv) || !lt_napi_size(env, argv[4], fn, "rows", &rows) ||
      !lt_napi_size(env, argv[5], fn, "pos0", &pos0) || !lt_napi_size(env, argv[6], fn, "nHeads", &heads) ||
      !lt_napi_size(env, argv[7], fn, "nKvHeads", &kvh) || !lt_napi_size(env, argv[8], fn, "headDim", &hd))
    return NULL;
  if (heads > 0 && (kvh == 0 || heads % kvh != 0)) {
    lt_napi_throw(env, fn, "nHeads must be a positive multiple of nKvHeads");
    return NULL;
  }
  if (pos0 > 9007199254740991.0 - (double)rows) {
    lt_napi_throw(env, fn, "pos0 + rows overflows");
    return NULL;
  }
  if (!lt_napi_need(env, fn, "out", lo, rows, heads, hd) || !lt_napi_need(env, fn, "q", lq, rows, heads, hd))
    return NULL;
  if (rows > 0 && heads > 0 && hd > 0) {
    if (!lt_napi_need(env, fn, "k", lk, pos0 + rows, kvh, hd) || !lt_napi_need(env, fn, "v", lv, pos0 + rows, kvh, hd))
      return NULL;
  }
  if (lt_attention(out, q, k, v, rows, pos0, heads, kvh, hd) != 0) return lt_napi_oom(env, fn);
  return lt_napi_undefined(env);
}

static napi_value js_swiglu(napi_env env, napi_callback_info info) {
  static const char *fn = "swiglu";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *g, *u;
  size_t lo, lg, lu, n;
  if (!lt_napi_args(env, info, argv, 4, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "gate", &g, &lg) || !lt_napi_f32(env, argv[2], fn, "up", &u, &lu) ||
      !lt_napi_size(env, argv[3], fn, "n", &n) || !lt_napi_need(env, fn, "out", lo, n, 1, 1) ||
      !lt_napi_need(env, fn, "gate", lg, n, 1, 1) || !lt_napi_need(env, fn, "up", lu, n, 1, 1))
    return NULL;
  lt_swiglu(out, g, u, n);
  return lt_napi_undefined(env);
}

static napi_value js_add(napi_env env, napi_callback_info info) {
  static const char *fn = "addInPlace";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *x, *y;
  size_t lx, ly, n;
  if (!lt_napi_args(env, info, argv, 3, fn) || !lt_napi_f32(env, argv[0], fn, "x", &x, &lx) ||
      !lt_napi_f32(env, argv[1], fn, "y", &y, &ly) || !lt_napi_size(env, argv[2], fn, "n", &n) ||
      !lt_napi_need(env, fn, "x", lx, n, 1, 1) || !lt_napi_need(env, fn, "y", ly, n, 1, 1))
    return NULL;
  lt_add(x, y, n);
  return lt_napi_undefined(env);
}

/* ---- control ---- */

static napi_value make_int(napi_env env, int v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  static const char *fn = "setThreads";
  napi_value argv[LT_NAPI_MAX_ARGS];
  size_t n;
  if (!lt_napi_args(env, info, argv, 1, fn) || !lt_napi_size(env, argv[0], fn, "n", &n)) return NULL;
  if (n < 1 || n > 256) {
    lt_napi_throw(env, fn, "n must be an integer in 1..256");
    return NULL;
  }
  return make_int(env, lt_set_threads((int)n));
}

static napi_value js_get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  return make_int(env, lt_get_threads());
}

static napi_value make_str(napi_env env, const char *s) {
  napi_value r;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value js_get_isa(napi_env env, napi_callback_info info) {
  (void)info;
  return make_str(env, lt_get_ops()->name);
}

static napi_value js_set_isa(napi_env env, napi_callback_info info) {
  static const char *fn = "setIsa";
  napi_value argv[LT_NAPI_MAX_ARGS];
  char name[32];
  size_t len = 0;
  if (!lt_napi_args(env, info, argv, 1, fn)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    lt_napi_throw(env, fn, "the ISA must be a string");
    return NULL;
  }
  int ok;
  const lt_ops *ops = isa_by_name(name, &ok);
  if (!ops) {
    lt_napi_throw(env, fn, "unknown ISA (avx512, avx2 or scalar)");
    return NULL;
  }
  if (!ok) {
    lt_napi_throw(env, fn, "this CPU does not support that ISA");
    return NULL;
  }
  lt_set_ops(ops);
  return lt_napi_undefined(env);
}

static napi_value js_supported_isas(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  if (cpu_has_avx512()) napi_set_element(env, arr, i++, make_str(env, "avx512"));
  if (cpu_has_avx2()) napi_set_element(env, arr, i++, make_str(env, "avx2"));
  napi_set_element(env, arr, i++, make_str(env, "scalar"));
  return arr;
}

/* ---- module ---- */

static int isa_chosen = 0;

static napi_value init(napi_env env, napi_value exports) {
  if (!isa_chosen) {
    const char *want = getenv("LLAMA_TS_ISA");
    if (want && *want) {
      int ok;
      const lt_ops *ops = isa_by_name(want, &ok);
      if (!ops) {
        napi_throw_error(env, NULL, "LLAMA_TS_ISA must be avx512, avx2 or scalar");
        return NULL;
      }
      if (!ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "LLAMA_TS_ISA=%s, but this CPU does not support it", want);
        napi_throw_error(env, NULL, msg);
        return NULL;
      }
      lt_set_ops(ops);
    } else {
      lt_set_ops(best_isa());
    }
    isa_chosen = 1;
  }
  napi_property_descriptor props[] = {
    {"matmul", NULL, js_matmul, NULL, NULL, NULL, napi_enumerable, NULL},
    {"matvec", NULL, js_matvec, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rmsnorm", NULL, js_rmsnorm, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rope", NULL, js_rope, NULL, NULL, NULL, napi_enumerable, NULL},
    {"attention", NULL, js_attention, NULL, NULL, NULL, napi_enumerable, NULL},
    {"swiglu", NULL, js_swiglu, NULL, NULL, NULL, napi_enumerable, NULL},
    {"addInPlace", NULL, js_add, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getThreads", NULL, js_get_threads, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getIsa", NULL, js_get_isa, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setIsa", NULL, js_set_isa, NULL, NULL, NULL, napi_enumerable, NULL},
    {"supportedIsas", NULL, js_supported_isas, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (lt_train_register(env, exports) != napi_ok) return NULL;
  if (lt_quant_register(env, exports) != napi_ok) return NULL;
  if (lt_mmap_register(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
