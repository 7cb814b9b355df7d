/*
 * Node-API bindings of the training kernels (train.c). As in addon.c, every entry point checks
 * its arguments (typed-array types, non-negative integer sizes, lengths large enough for the
 * sizes; the helpers are napi_util.h's) before touching memory; src/kernels/native.ts checks the
 * same first.
 */
#include <node_api.h>

#include "lt.h"
#include "napi_util.h"
#include "train.h"

/* matmulNN(out, a, b, m, n, k, accumulate) / matmulTN(...) */
static napi_value matmul_variant(napi_env env, napi_callback_info info, int tn) {
  const char *fn = tn ? "matmulTN" : "matmulNN";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *a, *b;
  size_t lo, la, lb, m, n, k;
  int acc;
  if (!lt_napi_args(env, info, argv, 7, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "a", &a, &la) || !lt_napi_f32(env, argv[2], fn, "b", &b, &lb) ||
      !lt_napi_size(env, argv[3], fn, "m", &m) || !lt_napi_size(env, argv[4], fn, "n", &n) ||
      !lt_napi_size(env, argv[5], fn, "k", &k) ||
      !lt_napi_bool(env, argv[6], fn, "accumulate", &acc) || !lt_napi_need(env, fn, "out", lo, m, n, 1) ||
      !lt_napi_need(env, fn, "a", la, m, k, 1) || !lt_napi_need(env, fn, "b", lb, k, n, 1))
    return NULL;
  const int rc = tn ? lt_matmul_tn(out, a, b, m, n, k, acc) : lt_matmul_nn(out, a, b, m, n, k, acc);
  if (rc != 0) return lt_napi_oom(env, fn);
  return lt_napi_undefined(env);
}

static napi_value js_matmul_nn(napi_env env, napi_callback_info info) { return matmul_variant(env, info, 0); }
static napi_value js_matmul_tn(napi_env env, napi_callback_info info) { return matmul_variant(env, info, 1); }

static int attn_shape(napi_env env, napi_value *argv, const char *fn, size_t *B, size_t *T, size_t *nH, size_t *nKv,
                      size_t *hd) {
  if (!lt_napi_size(env, argv[0], fn, "batch", B) || !lt_napi_size(env, argv[1], fn, "T", T) ||
      !lt_napi_size(env, argv[2], fn, "nHeads", nH) || !lt_napi_size(env, argv[3], fn, "nKvHeads", nKv) ||
      !lt_napi_size(env, argv[4], fn, "headDim", hd))
    return 0;
  if (*nKv == 0 || *nH % *nKv != 0) return lt_napi_throw(env, fn, "nHeads must be a positive multiple of nKvHeads");
  return 1;
}

/* attentionTrainForward(out, lse, q, k, v, B, T, nH, nKv, hd) */
static napi_value js_attn_fwd(napi_env env, napi_callback_info info) {
  static const char *fn = "attentionTrainForward";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *lse, *q, *k, *v;
  size_t lo, ll, lq, lk, lv, B, T, nH, nKv, hd;
  if (!lt_napi_args(env, info, argv, 10, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "lse", &lse, &ll) || !lt_napi_f32(env, argv[2], fn, "q", &q, &lq) ||
      !lt_napi_f32(env, argv[3], fn, "k", &k, &lk) || !lt_napi_f32(env, argv[4], fn, "v", &v, &lv) ||
      !attn_shape(env, argv + 5, fn, &B, &T, &nH, &nKv, &hd))
    return NULL;
  size_t BT;
  if (__builtin_mul_overflow(B, T, &BT)) return lt_napi_oom(env, fn);
  if (!lt_napi_need(env, fn, "out", lo, BT, nH, hd) || !lt_napi_need(env, fn, "lse", ll, BT, nH, 1) ||
      !lt_napi_need(env, fn, "q", lq, BT, nH, hd) || !lt_napi_need(env, fn, "k", lk, BT, nKv, hd) ||
      !lt_napi_need(env, fn, "v", lv, BT, nKv, hd))
    return NULL;
  if (lt_attention_train_forward(out, lse, q, k, v, B, T, nH, nKv, hd) != 0) return lt_napi_oom(env, fn);
  return lt_napi_undefined(env);
}

/* attentionTrainBackward(dq, dk, dv, dOut, q, k, v, out, lse, B, T, nH, nKv, hd, accumulate) */
static napi_value js_attn_bwd(napi_env env, napi_callback_info info) {
  static const char *fn = "attentionTrainBackward";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *dq, *dk, *dv, *dout, *q, *k, *v, *out, *lse;
  size_t ldq, ldk, ldv, ldo, lq, lk, lv, lo, ll, B, T, nH, nKv, hd;
  int acc;
  if (!lt_napi_args(env, info, argv, 15, fn) || !lt_napi_f32(env, argv[0], fn, "dq", &dq, &ldq) ||
      !lt_napi_f32(env, argv[1], fn, "dk", &dk, &ldk) || !lt_napi_f32(env, argv[2], fn, "dv", &dv, &ldv) ||
      !lt_napi_f32(env, argv[3], fn, "dOut", &dout, &ldo) || !lt_napi_f32(env, argv[4], fn, "q", &q, &lq) ||
      !lt_napi_f32(env, argv[5], fn, "k", &k, &lk) || !lt_napi_f32(env, argv[6], fn, "v", &v, &lv) ||
      !lt_napi_f32(env, argv[7], fn, "out", &out, &lo) || !lt_napi_f32(env, argv[8], fn, "lse", &lse, &ll) ||
      !attn_shape(env, argv + 9, fn, &B, &T, &nH, &nKv, &hd) || !lt_napi_bool(env, argv[14], fn, "accumulate", &acc))
    return NULL;
  size_t BT;
  if (__builtin_mul_overflow(B, T, &BT)) return lt_napi_oom(env, fn);
  if (!lt_napi_need(env, fn, "dq", ldq, BT, nH, hd) || !lt_napi_need(env, fn, "dk", ldk, BT, nKv, hd) ||
      !lt_napi_need(env, fn, "dv", ldv, BT, nKv, hd) || !lt_napi_need(env, fn, "dOut", ldo, BT, nH, hd) ||
      !lt_napi_need(env, fn, "q", lq, BT, nH, hd) || !lt_napi_need(env, fn, "k", lk, BT, nKv, hd) ||
      !lt_napi_need(env, fn, "v", lv, BT, nKv, hd) || !lt_napi_need(env, fn, "out", lo, BT, nH, hd) ||
      !lt_napi_need(env, fn, "lse", ll, BT, nH, 1))
    return NULL;
  if (lt_attention_train_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, nH, nKv, hd, acc) != 0)
    return lt_napi_oom(env, fn);
  return lt_napi_undefined(env);
}

/* crossEntropy(logits, targets, rows, vocab, totalCount) -> Σ loss / totalCount */
static napi_value js_cross_entropy(napi_env env, napi_callback_info info) {
  static const char *fn = "crossEntropy";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *logits;
  void *tp;
  size_t ll, lt, rows, vocab;
  double total;
  if (!lt_napi_args(env, info, argv, 5, fn) || !lt_napi_f32(env, argv[0], fn, "logits", &logits, &ll) ||
      !lt_napi_typed(env, argv[1], fn, "targets", napi_int32_array, &tp, &lt) ||
      !lt_napi_size(env, argv[2], fn, "rows", &rows) ||
      !lt_napi_size(env, argv[3], fn, "vocab", &vocab) || !lt_napi_finite(env, argv[4], fn, "totalCount", &total) ||
      !lt_napi_need(env, fn, "logits", ll, rows, vocab, 1) || !lt_napi_need(env, fn, "targets", lt, rows, 1, 1))
    return NULL;
  if (!(total > 0)) {
    lt_napi_throw(env, fn, "totalCount must be > 0");
    return NULL;
  }
  const int32_t *targets = tp;
  for (size_t r = 0; r < rows; r++) {
    if (targets[r] >= 0 && (size_t)targets[r] >= vocab) {
      lt_napi_throw(env, fn, "a target is outside the vocabulary");
      return NULL;
    }
  }
  double loss;
  if (lt_cross_entropy(logits, targets, rows, vocab, total, &loss) != 0) return lt_napi_oom(env, fn);
  return lt_napi_double(env, loss);
}

/* rmsnormStats(out, invRms, x, weight, rows, dim, eps) */
static napi_value js_rms_stats(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnormStats";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *inv, *x, *w;
  size_t lo, li, lx, lw, rows, dim;
  double eps;
  if (!lt_napi_args(env, info, argv, 7, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "invRms", &inv, &li) || !lt_napi_f32(env, argv[2], fn, "x", &x, &lx) ||
      !lt_napi_f32(env, argv[3], fn, "weight", &w, &lw) || !lt_napi_size(env, argv[4], fn, "rows", &rows) ||
      !lt_napi_size(env, argv[5], fn, "dim", &dim) || !lt_napi_finite(env, argv[6], fn, "eps", &eps) ||
      !lt_napi_need(env, fn, "out", lo, rows, dim, 1) || !lt_napi_need(env, fn, "invRms", li, rows, 1, 1) ||
      !lt_napi_need(env, fn, "x", lx, rows, dim, 1) || !lt_napi_need(env, fn, "weight", lw, dim, 1, 1))
    return NULL;
  lt_rmsnorm_stats(out, inv, x, w, rows, dim, eps);
  return lt_napi_undefined(env);
}

/* rmsnormApply(out, x, weight, invRms, rows, dim) */
static napi_value js_rms_apply(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnormApply";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *out, *inv, *x, *w;
  size_t lo, li, lx, lw, rows, dim;
  if (!lt_napi_args(env, info, argv, 6, fn) || !lt_napi_f32(env, argv[0], fn, "out", &out, &lo) ||
      !lt_napi_f32(env, argv[1], fn, "x", &x, &lx) || !lt_napi_f32(env, argv[2], fn, "weight", &w, &lw) ||
      !lt_napi_f32(env, argv[3], fn, "invRms", &inv, &li) || !lt_napi_size(env, argv[4], fn, "rows", &rows) ||
      !lt_napi_size(env, argv[5], fn, "dim", &dim) || !lt_napi_need(env, fn, "out", lo, rows, dim, 1) ||
      !lt_napi_need(env, fn, "invRms", li, rows, 1, 1) || !lt_napi_need(env, fn, "x", lx, rows, dim, 1) ||
      !lt_napi_need(env, fn, "weight", lw, dim, 1, 1))
    return NULL;
  lt_rmsnorm_apply(out, x, w, inv, rows, dim);
  return lt_napi_undefined(env);
}

/* rmsnormBackward(dx, dWeight | null, dOut, x, weight, invRms, rows, dim, accumulate) */
static napi_value js_rms_bwd(napi_env env, napi_callback_info info) {
  static const char *fn = "rmsnormBackward";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *dx, *dw = NULL, *dout, *x, *w, *inv;
  size_t ldx, ldw = 0, ldo, lx, lw, li, rows, dim;
  int acc;
  if (!lt_napi_args(env, info, argv, 9, fn)) return NULL;
  napi_valuetype t1;
  if (napi_typeof(env, argv[1], &t1) != napi_ok) return NULL;
  if (t1 != napi_null && !lt_napi_f32(env, argv[1], fn, "dWeight", &dw, &ldw)) return NULL;
  if (!lt_napi_f32(env, argv[0], fn, "dx", &dx, &ldx) || !lt_napi_f32(env, argv[2], fn, "dOut", &dout, &ldo) ||
      !lt_napi_f32(env, argv[3], fn, "x", &x, &lx) || !lt_napi_f32(env, argv[4], fn, "weight", &w, &lw) ||
      !lt_napi_f32(env, argv[5], fn, "invRms", &inv, &li) || !lt_napi_size(env, argv[6], fn, "rows", &rows) ||
      !lt_napi_size(env, argv[7], fn, "dim", &dim) || !lt_napi_bool(env, argv[8], fn, "accumulate", &acc) ||
      !lt_napi_need(env, fn, "dx", ldx, rows, dim, 1) || !lt_napi_need(env, fn, "dOut", ldo, rows, dim, 1) ||
      !lt_napi_need(env, fn, "x", lx, rows, dim, 1) || !lt_napi_need(env, fn, "weight", lw, dim, 1, 1) ||
      !lt_napi_need(env, fn, "invRms", li, rows, 1, 1) || (dw && !lt_napi_need(env, fn, "dWeight", ldw, dim, 1, 1)))
    return NULL;
  lt_rmsnorm_backward(dx, dw, dout, x, w, inv, rows, dim, acc);
  return lt_napi_undefined(env);
}

/* swigluBackward(dGate, dUp, dOut, gate, up, n) */
static napi_value js_swiglu_bwd(napi_env env, napi_callback_info info) {
  static const char *fn = "swigluBackward";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *dg, *du, *d, *g, *u;
  size_t l1, l2, l3, l4, l5, n;
  if (!lt_napi_args(env, info, argv, 6, fn) || !lt_napi_f32(env, argv[0], fn, "dGate", &dg, &l1) ||
      !lt_napi_f32(env, argv[1], fn, "dUp", &du, &l2) || !lt_napi_f32(env, argv[2], fn, "dOut", &d, &l3) ||
      !lt_napi_f32(env, argv[3], fn, "gate", &g, &l4) || !lt_napi_f32(env, argv[4], fn, "up", &u, &l5) ||
      !lt_napi_size(env, argv[5], fn, "n", &n) || !lt_napi_need(env, fn, "dGate", l1, n, 1, 1) ||
      !lt_napi_need(env, fn, "dUp", l2, n, 1, 1) || !lt_napi_need(env, fn, "dOut", l3, n, 1, 1) ||
      !lt_napi_need(env, fn, "gate", l4, n, 1, 1) || !lt_napi_need(env, fn, "up", l5, n, 1, 1))
    return NULL;
  lt_swiglu_backward(dg, du, d, g, u, n);
  return lt_napi_undefined(env);
}

/* adamw(params, grads, m, v, start, end, decayFactor, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt) */
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  static const char *fn = "adamw";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *p, *g, *m, *v;
  size_t lp, lg, lm, lv, start, end;
  double h[7];
  static const char *names[7] = {"decayFactor", "gradScale", "beta1", "beta2", "eps", "stepSize", "bc2Sqrt"};
  if (!lt_napi_args(env, info, argv, 13, fn) || !lt_napi_f32(env, argv[0], fn, "params", &p, &lp) ||
      !lt_napi_f32(env, argv[1], fn, "grads", &g, &lg) || !lt_napi_f32(env, argv[2], fn, "m", &m, &lm) ||
      !lt_napi_f32(env, argv[3], fn, "v", &v, &lv) || !lt_napi_size(env, argv[4], fn, "start", &start) ||
      !lt_napi_size(env, argv[5], fn, "end", &end))
    return NULL;
  for (int i = 0; i < 7; i++)
    if (napi_get_value_double(env, argv[6 + i], &h[i]) != napi_ok) {
      lt_napi_throw(env, fn, names[i]);
      return NULL;
    }
  if (end < start) {
    lt_napi_throw(env, fn, "end must be >= start");
    return NULL;
  }
  if (!lt_napi_need(env, fn, "params", lp, end, 1, 1) || !lt_napi_need(env, fn, "grads", lg, end, 1, 1) ||
      !lt_napi_need(env, fn, "m", lm, end, 1, 1) || !lt_napi_need(env, fn, "v", lv, end, 1, 1))
    return NULL;
  lt_adamw(p + start, g + start, m + start, v + start, end - start, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
  return lt_napi_undefined(env);
}

/* sumSquares(x, n) -> Σ x², accumulated in float64 */
static napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  static const char *fn = "sumSquares";
  napi_value argv[LT_NAPI_MAX_ARGS];
  float *x;
  size_t lx, n;
  if (!lt_napi_args(env, info, argv, 2, fn) || !lt_napi_f32(env, argv[0], fn, "x", &x, &lx) ||
      !lt_napi_size(env, argv[1], fn, "n", &n) ||
      !lt_napi_need(env, fn, "x", lx, n, 1, 1))
    return NULL;
  double s;
  if (lt_sum_squares(x, n, &s) != 0) return lt_napi_oom(env, fn);
  return lt_napi_double(env, s);
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
