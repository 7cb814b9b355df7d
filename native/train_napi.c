/*
 * Node-API bindings of the training kernels (train.c). As in addon.c, every entry point checks
 * its arguments (typed-array types, non-negative integer sizes, lengths large enough for the
 * sizes) before touching memory; src/kernels/native.ts checks the same first.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <node_api.h>

#include "lt.h"
#include "train.h"

#define T_MAX_ARGS 16

static int t_throw(napi_env env, const char *fn, const char *msg) {
  char buf[256];
  snprintf(buf, sizeof buf, "llama-ts native %s: %s", fn, msg);
  napi_throw_error(env, NULL, buf);
  return 0;
}

static int t_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *fn) {
  size_t argc = T_MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return t_throw(env, fn, "bad call");
  if (argc < want) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", want, argc);
    return t_throw(env, fn, msg);
  }
  return 1;
}

static int t_typed(napi_env env, napi_value v, const char *fn, const char *what, napi_typedarray_type want,
                   void **data, size_t *len) {
  napi_typedarray_type type;
  size_t length = 0;
  void *ptr = NULL;
  napi_value ab;
  size_t off = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &off) != napi_ok || type != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a %s", what, want == napi_float32_array ? "Float32Array" : "Int32Array");
    return t_throw(env, fn, msg);
  }
  *data = ptr;
  *len = length;
  return 1;
}

static int t_f32(napi_env env, napi_value v, const char *fn, const char *what, float **data, size_t *len) {
  void *p;
  if (!t_typed(env, v, fn, what, napi_float32_array, &p, len)) return 0;
  *data = p;
  return 1;
}

static int t_size(napi_env env, napi_value v, const char *fn, const char *what, size_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != floor(d)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a non-negative integer", what);
    return t_throw(env, fn, msg);
  }
  *out = (size_t)d;
  return 1;
}

static int t_num(napi_env env, napi_value v, const char *fn, const char *what, double *out) {
  if (napi_get_value_double(env, v, out) != napi_ok || !isfinite(*out)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a finite number", what);
    return t_throw(env, fn, msg);
  }
  return 1;
}

static int t_bool(napi_env env, napi_value v, const char *fn, const char *what, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    return t_throw(env, fn, msg);
  }
  *out = b ? 1 : 0;
  return 1;
}

static int t_need(napi_env env, const char *fn, const char *what, size_t have, size_t a, size_t b, size_t c) {
  size_t t, n;
  if (__builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, &n)) return t_throw(env, fn, "sizes overflow");
  if (have < n) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s has %zu elements, needs %zu", what, have, n);
    return t_throw(env, fn, msg);
  }
  return 1;
}

static napi_value t_undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value t_double(napi_env env, double d) {
  napi_value r;
  napi_create_double(env, d, &r);
  return r;
}

static napi_value t_oom(napi_env env, const char *fn) {
  t_throw(env, fn, "out of memory");
  return NULL;
}

/* matmulNN(out, a, b, m, n, k, accumulate) / matmulTN(...) */
static napi_value matmul_variant(napi_env env, napi_callback_info info, int tn) {
  const char *fn = tn ? "matmulTN" : "matmulNN";
  napi_value argv[T_MAX_ARGS];
  float *out, *a, *b;
  size_t lo, la, lb, m, n, k;
  int acc;
  if (!t_args(env, info, argv, 7, fn) || !t_f32(env, argv[0], fn, "out", &out, &lo) ||
      !t_f32(env, argv[1], fn, "a", &a, &la) || !t_f32(env, argv[2], fn, "b", &b, &lb) ||
      !t_size(env, argv[3], fn, "m", &m) || !t_size(env, argv[4], fn, "n", &n) || !t_size(env, argv[5], fn, "k", &k) ||
      !t_bool(env, argv[6], fn, "accumulate", &acc) || !t_need(env, fn, "out", lo, m, n, 1) ||
      !t_need(env, fn, "a", la, m, k, 1) || !t_need(env, fn, "b", lb, k, n, 1))
    return NULL;
  const int rc = tn ? lt_matmul_tn(out, a, b, m, n, k, acc) : lt_matmul_nn(out, a, b, m, n, k, acc);
  if (rc != 0) return t_oom(env, fn);
  return t_undef(env);
}

static napi_value js_matmul_nn(napi_env env, napi_callback_info info) { return matmul_variant(env, info, 0); }
static napi_value js_matmul_tn(napi_env env, napi_callback_info info) { return matmul_variant(env, info, 1); }

static int attn_shape(napi_env env, napi_value *argv, const char *fn, size_t *B, size_t *T, size_t *nH, size_t *nKv,
                      size_t *hd) {
  if (!t_size(env, argv[0], fn, "batch", B) || !t_size(env, argv[1], fn, "T", T) ||
      !t_size(env, argv[2], fn, "nHeads", nH) || !t_size(env, argv[3], fn, "nKvHeads", nKv) ||
      !t_size(env, argv[4], fn, "headDim", hd))
    return 0;
  if (*nKv == 0 || *nH % *nKv != 0) return t_throw(env, fn, "nHeads must be a positive multiple of nKvHeads");
  return 1;
}

/* attentionTrainForward(out, lse, q, k, v, B, T, nH, nKv, hd) */
static napi_value js_attn_fwd(napi_env env, napi_callback_info info) {
  static const char *fn = "attentionTrainForward";
  napi_value argv[T_MAX_ARGS];
  float *out, *lse, *q, *k, *v;
  size_t lo, ll, lq, lk, lv, B, T, nH, nKv, hd;
  if (!t_args(env, info, argv, 10, fn) || !t_f32(env, argv[0], fn, "out", &out, &lo) ||
      !t_f32(env, argv[1], fn, "lse", &lse, &ll) || !t_f32(env, argv[2], fn, "q", &q, &lq) ||
      !t_f32(env, argv[3], fn, "k", &k, &lk) || !t_f32(env, argv[4], fn, "v", &v, &lv) ||
      !attn_shape(env, argv + 5, fn, &B, &T, &nH, &nKv, &hd))
    return NULL;
  size_t BT;
  if (__builtin_mul_overflow(B, T, &BT)) return t_oom(env, fn);
  if (!t_need(env, fn, "out", lo, BT, nH, hd) || !t_need(env, fn, "lse", ll, BT, nH, 1) ||
      !t_need(env, fn, "q", lq, BT, nH, hd) || !t_need(env, fn, "k", lk, BT, nKv, hd) ||
      !t_need(env, fn, "v", lv, BT, nKv, hd))
    return NULL;
  if (lt_attention_train_forward(out, lse, q, k, v, B, T, nH, nKv, hd) != 0) return t_oom(env, fn);
  return t_undef(env);
}

/* attentionTrainBackward(dq, dk, dv, dOut, q, k, v, out, lse, B, T, nH, nKv, hd, accumulate) */
static napi_value js_attn_bwd(napi_env env, napi_callback_info info) {
  static const char *fn = "attentionTrainBackward";
  napi_value argv[T_MAX_ARGS];
  float *dq, *dk, *dv, *dout, *q, *k, *v, *out, *lse;
  size_t ldq, ldk, ldv, ldo, lq, lk, lv, lo, ll, B, T, nH, nKv, hd;
  int acc;
  if (!t_args(env, info, argv, 15, fn) || !t_f32(env, argv[0], fn, "dq", &dq, &ldq) ||
      !t_f32(env, argv[1], fn, "dk", &dk, &ldk) || !t_f32(env, argv[2], fn, "dv", &dv, &ldv) ||
      !t_f32(env, argv[3], fn, "dOut", &dout, &ldo) || !t_f32(env, argv[4], fn, "q", &q, &lq) ||
      !t_f32(env, argv[5], fn, "k", &k, &lk) || !t_f32(env, argv[6], fn, "v", &v, &lv) ||
      !t_f32(env, argv[7], fn, "out", &out, &lo) || !t_f32(env, argv[8], fn, "lse", &lse, &ll) ||
      !attn_shape(env, argv + 9, fn, &B, &T, &nH, &nKv, &hd) || !t_bool(env, argv[14], fn, "accumulate", &acc))
    return NULL;
  size_t BT;
  if (__builtin_mul_overflow(B, T, &BT)) return t_oom(env, fn);
  if (!t_need(env, fn, "dq", ldq, BT, nH, hd) || !t_need(env, fn, "dk", ldk, BT, nKv, hd) ||
      !t_need(env, fn, "dv", ldv, BT, nKv, hd) || !t_need(env, fn, "dOut", ldo, BT, nH, hd) ||
      !t_need(env, fn, "q", lq, BT, nH, hd) || !t_need(env, fn, "k", lk, BT, nKv, hd) ||
      !t_need(env, fn, "v", lv, BT, nKv, hd) || !t_need(env, fn, "out", lo, BT, nH, hd) ||
      !t_need(env, fn, "lse", ll, BT, nH, 1))
    return NULL;
  if (lt_attention_train_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, nH, nKv, hd, acc) != 0)
    return t_oom(env, fn);
  return t_undef(env);
}

/* crossEntropy(logits, targets, rows, vocab, totalCount) -> Σ loss / totalCount */
static napi_value js_cross_entropy(napi_env env, napi_callback_info info) {
  static const char *fn = "crossEntropy";
  napi_value argv[T_MAX_ARGS];
  float *logits;
  void *tp;
  size_t ll, lt, rows, vocab;
  double total;
  if (!t_args(env, info, argv, 5, fn) || !t_f32(env, argv[0], fn, "logits", &logits, &ll) ||
      !t_typed(env, argv[1], fn, "targets", napi_int32_array, &tp, &lt) || !t_size(env, argv[2], fn, "rows", &rows) ||
      !t_size(env, argv[3], fn, "vocab", &vocab) || !t_num(env, argv[4], fn, "totalCount", &total) ||
      !t_need(env, fn, "logits", ll, rows, vocab, 1) || !t_need(env, fn, "targets", lt, rows, 1, 1))
    return NULL;
  if (!(total > 0)) {
    t_throw(env, fn, "totalCount must be > 0");
    return NULL;
  }
  const int32_t *targets = tp;
  for (size_t r = 0; r < rows; r++) {
    if (targets[r] >= 0 && (size_t)targets[r] >= vocab) {
      t_throw(env, fn, "a target is outside the vocabulary");
      return NULL;
    }
  }
  double loss;
  if (lt_cross_entropy(logits, targets, rows, vocab, total, &loss) != 0) return t_oom(env, fn);
  return t_double(env, loss);
}

/* rmsnormStats(out, invRms, x, weight, rows, dim, eps) */
static napi_value js_rms_stats(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnormStats";
  napi_value argv[T_MAX_ARGS];
  float *out, *inv, *x, *w;
  size_t lo, li, lx, lw, rows, dim;
  double eps;
  if (!t_args(env, info, argv, 7, fn) || !t_f32(env, argv[0], fn, "out", &out, &lo) ||
      !t_f32(env, argv[1], fn, "invRms", &inv, &li) || !t_f32(env, argv[2], fn, "x", &x, &lx) ||
      !t_f32(env, argv[3], fn, "weight", &w, &lw) || !t_size(env, argv[4], fn, "rows", &rows) ||
      !t_size(env, argv[5], fn, "dim", &dim) || !t_num(env, argv[6], fn, "eps", &eps) ||
      !t_need(env, fn, "out", lo, rows, dim, 1) || !t_need(env, fn, "invRms", li, rows, 1, 1) ||
      !t_need(env, fn, "x", lx, rows, dim, 1) || !t_need(env, fn, "weight", lw, dim, 1, 1))
    return NULL;
  lt_rmsnorm_stats(out, inv, x, w, rows, dim, eps);
  return t_undef(env);
}

/* rmsnormApply(out, x, weight, invRms, rows, dim) */
static napi_value js_rms_apply(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnormApply";
  napi_value argv[T_MAX_ARGS];
  float *out, *inv, *x, *w;
  size_t lo, li, lx, lw, rows, dim;
  if (!t_args(env, info, argv, 6, fn) || !t_f32(env, argv[0], fn, "out", &out, &lo) ||
      !t_f32(env, argv[1], fn, "x", &x, &lx) || !t_f32(env, argv[2], fn, "weight", &w, &lw) ||
      !t_f32(env, argv[3], fn, "invRms", &inv, &li) || !t_size(env, argv[4], fn, "rows", &rows) ||
      !t_size(env, argv[5], fn, "dim", &dim) || !t_need(env, fn, "out", lo, rows, dim, 1) ||
      !t_need(env, fn, "invRms", li, rows, 1, 1) || !t_need(env, fn, "x", lx, rows, dim, 1) ||
      !t_need(env, fn, "weight", lw, dim, 1, 1))
    return NULL;
  lt_rmsnorm_apply(out, x, w, inv, rows, dim);
  return t_undef(env);
}

/* rmsnormBackward(dx, dWeight | null, dOut, x, weight, invRms, rows, dim, accumulate) */
static napi_value js_rms_bwd(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnormBackward";
  napi_value argv[T_MAX_ARGS];
  float *dx, *dw = NULL, *dout, *x, *w, *inv;
  size_t ldx, ldw = 0, ldo, lx, lw, li, rows, dim;
  int acc;
  if (!t_args(env, info, argv, 9, fn)) return NULL;
  napi_valuetype t1;
  if (napi_typeof(env, argv[1], &t1) != napi_ok) return NULL;
  if (t1 != napi_null && !t_f32(env, argv[1], fn, "dWeight", &dw, &ldw)) return NULL;
  if (!t_f32(env, argv[0], fn, "dx", &dx, &ldx) || !t_f32(env, argv[2], fn, "dOut", &dout, &ldo) ||
      !t_f32(env, argv[3], fn, "x", &x, &lx) || !t_f32(env, argv[4], fn, "weight", &w, &lw) ||
      !t_f32(env, argv[5], fn, "invRms", &inv, &li) || !t_size(env, argv[6], fn, "rows", &rows) ||
      !t_size(env, argv[7], fn, "dim", &dim) || !t_bool(env, argv[8], fn, "accumulate", &acc) ||
      !t_need(env, fn, "dx", ldx, rows, dim, 1) || !t_need(env, fn, "dOut", ldo, rows, dim, 1) ||
      !t_need(env, fn, "x", lx, rows, dim, 1) || !t_need(env, fn, "weight", lw, dim, 1, 1) ||
      !t_need(env, fn, "invRms", li, rows, 1, 1) || (dw && !t_need(env, fn, "dWeight", ldw, dim, 1, 1)))
    return NULL;
  lt_rmsnorm_backward(dx, dw, dout, x, w, inv, rows, dim, acc);
  return t_undef(env);
}

/* swigluBackward(dGate, dUp, dOut, gate, up, n) */
static napi_value js_swiglu_bwd(napi_env env, napi_callback_info info) {
  static const char *fn = "swigluBackward";
  napi_value argv[T_MAX_ARGS];
  float *dg, *du, *d, *g, *u;
  size_t l1, l2, l3, l4, l5, n;
  if (!t_args(env, info, argv, 6, fn) || !t_f32(env, argv[0], fn, "dGate", &dg, &l1) ||
      !t_f32(env, argv[1], fn, "dUp", &du, &l2) || !t_f32(env, argv[2], fn, "dOut", &d, &l3) ||
      !t_f32(env, argv[3], fn, "gate", &g, &l4) || !t_f32(env, argv[4], fn, "up", &u, &l5) ||
      !t_size(env, argv[5], fn, "n", &n) || !t_need(env, fn, "dGate", l1, n, 1, 1) ||
      !t_need(env, fn, "dUp", l2, n, 1, 1) || !t_need(env, fn, "dOut", l3, n, 1, 1) ||
      !t_need(env, fn, "gate", l4, n, 1, 1) || !t_need(env, fn, "up", l5, n, 1, 1))
    return NULL;
  lt_swiglu_backward(dg, du, d, g, u, n);
  return t_undef(env);
}

/* adamw(params, grads, m, v, start, end, decayFactor, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt) */
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  static const char *fn = "adamw";
  napi_value argv[T_MAX_ARGS];
  float *p, *g, *m, *v;
  size_t lp, lg, lm, lv, start, end;
  double h[7];
  static const char *names[7] = {"decayFactor", "gradScale", "beta1", "beta2", "eps", "stepSize", "bc2Sqrt"};
  if (!t_args(env, info, argv, 13, fn) || !t_f32(env, argv[0], fn, "params", &p, &lp) ||
      !t_f32(env, argv[1], fn, "grads", &g, &lg) || !t_f32(env, argv[2], fn, "m", &m, &lm) ||
      !t_f32(env, argv[3], fn, "v", &v, &lv) || !t_size(env, argv[4], fn, "start", &start) ||
      !t_size(env, argv[5], fn, "end", &end))
    return NULL;
  for (int i = 0; i < 7; i++)
    if (napi_get_value_double(env, argv[6 + i], &h[i]) != napi_ok) {
      t_throw(env, fn, names[i]);
      return NULL;
    }
  if (end < start) {
    t_throw(env, fn, "end must be >= start");
    return NULL;
  }
  if (!t_need(env, fn, "params", lp, end, 1, 1) || !t_need(env, fn, "grads", lg, end, 1, 1) ||
      !t_need(env, fn, "m", lm, end, 1, 1) || !t_need(env, fn, "v", lv, end, 1, 1))
    return NULL;
  lt_adamw(p + start, g + start, m + start, v + start, end - start, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
  return t_undef(env);
}

/* sumSquares(x, n) -> Σ x², accumulated in float64 */
static napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  static const char *fn = "sumSquares";
  napi_value argv[T_MAX_ARGS];
  float *x;
  size_t lx, n;
  if (!t_args(env, info, argv, 2, fn) || !t_f32(env, argv[0], fn, "x", &x, &lx) || !t_size(env, argv[1], fn, "n", &n) ||
      !t_need(env, fn, "x", lx, n, 1, 1))
    return NULL;
  double s;
  if (lt_sum_squares(x, n, &s) != 0) return t_oom(env, fn);
  return t_double(env, s);
}

napi_status lt_train_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"matmulNN", NULL, js_matmul_nn, NULL, NULL, NULL, napi_enumerable, NULL},
    {"matmulTN", NULL, js_matmul_tn, NULL, NULL, NULL, napi_enumerable, NULL},
    {"attentionTrainForward", NULL, js_attn_fwd, NULL, NULL, NULL, napi_enumerable, NULL},
    {"attentionTrainBackward", NULL, js_attn_bwd, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crossEntropy", NULL, js_cross_entropy, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rmsnormStats", NULL, js_rms_stats, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rmsnormApply", NULL, js_rms_apply, NULL, NULL, NULL, napi_enumerable, NULL},
    {"rmsnormBackward", NULL, js_rms_bwd, NULL, NULL, NULL, napi_enumerable, NULL},
    {"swigluBackward", NULL, js_swiglu_bwd, NULL, NULL, NULL, napi_enumerable, NULL},
    {"adamw", NULL, js_adamw, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sumSquares", NULL, js_sum_squares, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
