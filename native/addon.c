/*
 * Node-API bindings. Every entry point checks its arguments (Float32Array, non-negative integer
 * sizes, lengths large enough for the sizes) before touching memory; the TypeScript wrapper in
 * src/kernels/native.ts checks the same first, with friendlier messages.
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

/* training kernels (train_napi.c) */
napi_status lt_train_register(napi_env env, napi_value exports);
/* quantised-weight products (quant_addon.c) */
napi_status lt_quant_register(napi_env env, napi_value exports);

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

/* ---- argument helpers: each returns 0 and leaves a pending JS exception on failure ---- */

#define MAX_ARGS 10

static int throw_msg(napi_env env, const char *fn, const char *msg) {
  char buf[256];
  snprintf(buf, sizeof buf, "llama-ts native %s: %s", fn, msg);
  napi_throw_error(env, NULL, buf);
  return 0;
}

static int get_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *fn) {
  size_t argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return throw_msg(env, fn, "bad call");
  if (argc < want) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", want, argc);
    return throw_msg(env, fn, msg);
  }
  return 1;
}

static int get_f32(napi_env env, napi_value v, const char *fn, const char *what, float **data, size_t *len) {
  napi_typedarray_type type;
  size_t length = 0;
  void *ptr = NULL;
  napi_value ab;
  size_t off = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &off) != napi_ok || type != napi_float32_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a Float32Array", what);
    return throw_msg(env, fn, msg);
  }
  *data = (float *)ptr; /* already offset by the view's byteOffset */
  *len = length;
  return 1;
}

static int get_size(napi_env env, napi_value v, const char *fn, const char *what, size_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != floor(d)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a non-negative integer", what);
    return throw_msg(env, fn, msg);
  }
  *out = (size_t)d;
  return 1;
}

/* a*b*c without overflow (sizes are < 2^53 each) */
static int mul3(size_t a, size_t b, size_t c, size_t *r) {
  size_t t;
  if (__builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, r)) return 0;
  return 1;
}

static int need(napi_env env, const char *fn, const char *what, size_t have, size_t a, size_t b, size_t c) {
  size_t n;
  if (!mul3(a, b, c, &n)) return throw_msg(env, fn, "sizes overflow");
  if (have < n) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s has %zu elements, needs %zu", what, have, n);
    return throw_msg(env, fn, msg);
  }
  return 1;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value oom(napi_env env, const char *fn) {
  throw_msg(env, fn, "out of memory");
  return NULL;
}

/* ---- kernels ---- */

static napi_value js_matmul(napi_env env, napi_callback_info info) {
  static const char *fn = "matmul";
  napi_value argv[MAX_ARGS];
  float *out, *a, *w;
  size_t lo, la, lw, m, n, k;
  if (!get_args(env, info, argv, 6, fn) || !get_f32(env, argv[0], fn, "out", &out, &lo) ||
      !get_f32(env, argv[1], fn, "a", &a, &la) || !get_f32(env, argv[2], fn, "w", &w, &lw) ||
      !get_size(env, argv[3], fn, "m", &m) || !get_size(env, argv[4], fn, "n", &n) ||
      !get_size(env, argv[5], fn, "k", &k) || !need(env, fn, "out", lo, m, n, 1) ||
      !need(env, fn, "a", la, m, k, 1) || !need(env, fn, "w", lw, n, k, 1))
    return NULL;
  if (lt_matmul(out, a, w, m, n, k) != 0) return oom(env, fn);
  return undefined(env);
}

static napi_value js_matvec(napi_env env, napi_callback_info info) {
  static const char *fn = "matvec";
  napi_value argv[MAX_ARGS];
  float *out, *w, *x;
  size_t lo, lw, lx, n, k;
  if (!get_args(env, info, argv, 5, fn) || !get_f32(env, argv[0], fn, "out", &out, &lo) ||
      !get_f32(env, argv[1], fn, "w", &w, &lw) || !get_f32(env, argv[2], fn, "x", &x, &lx) ||
      !get_size(env, argv[3], fn, "n", &n) || !get_size(env, argv[4], fn, "k", &k) ||
      !need(env, fn, "out", lo, n, 1, 1) || !need(env, fn, "w", lw, n, k, 1) || !need(env, fn, "x", lx, k, 1, 1))
    return NULL;
  lt_matvec(out, w, x, n, k);
  return undefined(env);
}

static napi_value js_rmsnorm(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnorm";
  napi_value argv[MAX_ARGS];
  float *out, *x, *w;
  size_t lo, lx, lw, rows, dim;
  double eps;
  if (!get_args(env, info, argv, 6, fn) || !get_f32(env, argv[0], fn, "out", &out, &lo) ||
      !get_f32(env, argv[1], fn, "x", &x, &lx) || !get_f32(env, argv[2], fn, "weight", &w, &lw) ||
      !get_size(env, argv[3], fn, "rows", &rows) || !get_size(env, argv[4], fn, "dim", &dim) ||
      !need(env, fn, "out", lo, rows, dim, 1) || !need(env, fn, "x", lx, rows, dim, 1) ||
      !need(env, fn, "weight", lw, dim, 1, 1))
    return NULL;
  if (napi_get_value_double(env, argv[5], &eps) != napi_ok || !(eps >= 0) || isinf(eps)) {
    throw_msg(env, fn, "eps must be a finite number >= 0");
    return NULL;
  }
  lt_rmsnorm(out, x, w, rows, dim, (float)eps);
  return undefined(env);
}

static napi_value js_rope(napi_env env, napi_callback_info info) {
  static const char *fn = "rope";
  napi_value argv[MAX_ARGS];
  float *x, *c, *s;
  size_t lx, lc, ls, rows, heads, hd, pos0;
  if (!get_args(env, info, argv, 7, fn) || !get_f32(env, argv[0], fn, "x", &x, &lx) ||
      !get_size(env, argv[1], fn, "rows", &rows) || !get_size(env, argv[2], fn, "nHeads", &heads) ||
      !get_size(env, argv[3], fn, "headDim", &hd) || !get_size(env, argv[4], fn, "pos0", &pos0) ||
      !get_f32(env, argv[5], fn, "cos", &c, &lc) || !get_f32(env, argv[6], fn, "sin", &s, &ls))
    return NULL;
  if (hd % 2 != 0) {
    throw_msg(env, fn, "headDim must be even");
    return NULL;
  }
  if (!need(env, fn, "x", lx, rows, heads, hd)) return NULL;
  if (rows > 0 && hd > 0) {
    if (pos0 > 9007199254740991.0 - (double)rows) {
      throw_msg(env, fn, "pos0 + rows overflows");
      return NULL;
    }
    if (!need(env, fn, "cos", lc, pos0 + rows, hd / 2, 1) || !need(env, fn, "sin", ls, pos0 + rows, hd / 2, 1))
      return NULL;
  }
  lt_rope(x, rows, heads, hd, pos0, c, s);
  return undefined(env);
}

static napi_value js_attention(napi_env env, napi_callback_info info) {
  static const char *fn = "attention";
  napi_value argv[MAX_ARGS];
  float *out, *q, *k, *v;
  size_t lo, lq, lk, lv, rows, pos0, heads, kvh, hd;
  if (!get_args(env, info, argv, 9, fn) || !get_f32(env, argv[0], fn, "out", &out, &lo) ||
      !get_f32(env, argv[1], fn, "q", &q, &lq) || !get_f32(env, argv[2], fn, "k", &k, &lk) ||
      !get_f32(env, argv[3], fn, "v", &v, &lv) || !get_size(env, argv[4], fn, "rows", &rows) ||
      !get_size(env, argv[5], fn, "pos0", &pos0) || !get_size(env, argv[6], fn, "nHeads", &heads) ||
      !get_size(env, argv[7], fn, "nKvHeads", &kvh) || !get_size(env, argv[8], fn, "headDim", &hd))
    return NULL;
  if (heads > 0 && (kvh == 0 || heads % kvh != 0)) {
    throw_msg(env, fn, "nHeads must be a positive multiple of nKvHeads");
    return NULL;
  }
  if (pos0 > 9007199254740991.0 - (double)rows) {
    throw_msg(env, fn, "pos0 + rows overflows");
    return NULL;
  }
  if (!need(env, fn, "out", lo, rows, heads, hd) || !need(env, fn, "q", lq, rows, heads, hd)) return NULL;
  if (rows > 0 && heads > 0 && hd > 0) {
    if (!need(env, fn, "k", lk, pos0 + rows, kvh, hd) || !need(env, fn, "v", lv, pos0 + rows, kvh, hd)) return NULL;
  }
  if (lt_attention(out, q, k, v, rows, pos0, heads, kvh, hd) != 0) return oom(env, fn);
  return undefined(env);
}

static napi_value js_swiglu(napi_env env, napi_callback_info info) {
  static const char *fn = "swiglu";
  napi_value argv[MAX_ARGS];
  float *out, *g, *u;
  size_t lo, lg, lu, n;
  if (!get_args(env, info, argv, 4, fn) || !get_f32(env, argv[0], fn, "out", &out, &lo) ||
      !get_f32(env, argv[1], fn, "gate", &g, &lg) || !get_f32(env, argv[2], fn, "up", &u, &lu) ||
      !get_size(env, argv[3], fn, "n", &n) || !need(env, fn, "out", lo, n, 1, 1) ||
      !need(env, fn, "gate", lg, n, 1, 1) || !need(env, fn, "up", lu, n, 1, 1))
    return NULL;
  lt_swiglu(out, g, u, n);
  return undefined(env);
}

static napi_value js_add(napi_env env, napi_callback_info info) {
  static const char *fn = "addInPlace";
  napi_value argv[MAX_ARGS];
  float *x, *y;
  size_t lx, ly, n;
  if (!get_args(env, info, argv, 3, fn) || !get_f32(env, argv[0], fn, "x", &x, &lx) ||
      !get_f32(env, argv[1], fn, "y", &y, &ly) || !get_size(env, argv[2], fn, "n", &n) ||
      !need(env, fn, "x", lx, n, 1, 1) || !need(env, fn, "y", ly, n, 1, 1))
    return NULL;
  lt_add(x, y, n);
  return undefined(env);
}

/* ---- control ---- */

static napi_value make_int(napi_env env, int v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  static const char *fn = "setThreads";
  napi_value argv[MAX_ARGS];
  size_t n;
  if (!get_args(env, info, argv, 1, fn) || !get_size(env, argv[0], fn, "n", &n)) return NULL;
  if (n < 1 || n > 256) {
    throw_msg(env, fn, "n must be an integer in 1..256");
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
  napi_value argv[MAX_ARGS];
  char name[32];
  size_t len = 0;
  if (!get_args(env, info, argv, 1, fn)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    throw_msg(env, fn, "the ISA must be a string");
    return NULL;
  }
  int ok;
  const lt_ops *ops = isa_by_name(name, &ok);
  if (!ops) {
    throw_msg(env, fn, "unknown ISA (avx512, avx2 or scalar)");
    return NULL;
  }
  if (!ok) {
    throw_msg(env, fn, "this CPU does not support that ISA");
    return NULL;
  }
  lt_set_ops(ops);
  return undefined(env);
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
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
