/*
 * Node-API entry points for the quantised products (native/quant.c). Arguments are checked
 * before any memory is touched; src/kernels/native.ts checks the same first.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>

#include <node_api.h>

#include "lt.h"
#include "quant.h"

static napi_value qthrow(napi_env env, const char *msg) {
  char buf[256];
  snprintf(buf, sizeof buf, "llama-ts native qmatmul: %s", msg);
  napi_throw_error(env, NULL, buf);
  return NULL;
}

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *bytes) {
  napi_typedarray_type type;
  size_t length = 0, off = 0;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &off) != napi_ok || type != want) return 0;
  *bytes = want == napi_float32_array ? length * 4 : length;
  return 1;
}

static int size_arg(napi_env env, napi_value v, size_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != floor(d)) return 0;
  *out = (size_t)d;
  return 1;
}

static napi_value lt_js_qmatmul(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = 7;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7) return qthrow(env, "expected 7 arguments");
  void *out, *a, *w;
  size_t lo, la, lw, type, m, n, k;
  if (!typed(env, argv[0], napi_float32_array, &out, &lo)) return qthrow(env, "out must be a Float32Array");
  if (!typed(env, argv[1], napi_float32_array, &a, &la)) return qthrow(env, "a must be a Float32Array");
  if (!typed(env, argv[2], napi_uint8_array, &w, &lw)) return qthrow(env, "w must be a Uint8Array");
  if (!size_arg(env, argv[3], &type) || !size_arg(env, argv[4], &m) || !size_arg(env, argv[5], &n) || !size_arg(env, argv[6], &k))
    return qthrow(env, "type, m, n and k must be non-negative integers");
  const lt_qtype_desc *T = type < 1024 ? lt_q_type((int)type) : NULL;
  if (!T) return qthrow(env, "type is not a registered ggml type id (f16 1, q4_0 2, q8_0 8, q2_K 10, q3_K 11, q4_K 12, q5_K 13, q6_K 14, bf16 30)");
  const size_t rb = lt_q_row_bytes((int)type, k);
  if (k > 0 && rb == 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "k must be a multiple of %zu for %s", T->block, T->name);
    return qthrow(env, msg);
  }
  size_t t;
  if (__builtin_mul_overflow(m, n, &t) || __builtin_mul_overflow(t, 4, &t) || lo < t) return qthrow(env, "out is shorter than m*n");
  if (__builtin_mul_overflow(m, k, &t) || __builtin_mul_overflow(t, 4, &t) || la < t) return qthrow(env, "a is shorter than m*k");
  if (__builtin_mul_overflow(n, rb, &t) || lw < t) return qthrow(env, "w is shorter than n rows of k values");
  if (lt_qmatmul((float *)out, (const float *)a, (const uint8_t *)w, (int)type, m, n, k) != 0) return qthrow(env, "out of memory");
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* qmatmulMulti(outs[], a, ws[], types[], ns[], m, k): lt_qmatmul_multi; every entry checked as qmatmul's. */
#define QMULTI_MAX 16
static napi_value lt_js_qmatmul_multi(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = 7;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7) return qthrow(env, "expected 7 arguments");
  uint32_t count = 0, c2, c3, c4;
  bool isarr;
  for (int i = 0; i < 5; i++) {
    if (i == 1) continue;
    if (napi_is_array(env, argv[i], &isarr) != napi_ok || !isarr) return qthrow(env, "outs, ws, types and ns must be arrays");
  }
  napi_get_array_length(env, argv[0], &count);
  napi_get_array_length(env, argv[2], &c2);
  napi_get_array_length(env, argv[3], &c3);
  napi_get_array_length(env, argv[4], &c4);
  if (count != c2 || count != c3 || count != c4) return qthrow(env, "outs, ws, types and ns must have the same length");
  if (count > QMULTI_MAX) return qthrow(env, "at most 16 weight matrices");
  void *a;
  size_t la, m, k;
  if (!typed(env, argv[1], napi_float32_array, &a, &la)) return qthrow(env, "a must be a Float32Array");
  if (!size_arg(env, argv[5], &m) || !size_arg(env, argv[6], &k)) return qthrow(env, "m and k must be non-negative integers");
  size_t t;
  if (__builtin_mul_overflow(m, k, &t) || __builtin_mul_overflow(t, 4, &t) || la < t) return qthrow(env, "a is shorter than m*k");
  lt_qmat mats[QMULTI_MAX];
  for (uint32_t i = 0; i < count; i++) {
    napi_value vo, vw, vt, vn;
    void *out, *w;
    size_t lo, lw, type, n;
    napi_get_element(env, argv[0], i, &vo);
    napi_get_element(env, argv[2], i, &vw);
    napi_get_element(env, argv[3], i, &vt);
    napi_get_element(env, argv[4], i, &vn);
    if (!typed(env, vo, napi_float32_array, &out, &lo)) return qthrow(env, "outs must hold Float32Arrays");
    if (!typed(env, vw, napi_uint8_array, &w, &lw)) return qthrow(env, "ws must hold Uint8Arrays");
    if (!size_arg(env, vt, &type) || !size_arg(env, vn, &n)) return qthrow(env, "types and ns must hold non-negative integers");
    const lt_qtype_desc *T = type < 1024 ? lt_q_type((int)type) : NULL;
    if (!T) return qthrow(env, "types must hold registered ggml type ids (f16 1, q4_0 2, q8_0 8, q2_K 10, q3_K 11, q4_K 12, q5_K 13, q6_K 14)");
    const size_t rb = lt_q_row_bytes((int)type, k);
    if (k > 0 && rb == 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "k must be a multiple of %zu for %s", T->block, T->name);
      return qthrow(env, msg);
    }
    if (__builtin_mul_overflow(m, n, &t) || __builtin_mul_overflow(t, 4, &t) || lo < t) return qthrow(env, "an out is shorter than m*n");
    if (__builtin_mul_overflow(n, rb, &t) || lw < t) return qthrow(env, "a w is shorter than n rows of k values");
    mats[i] = (lt_qmat){(float *)out, (const uint8_t *)w, (int)type, n};
  }
  if (lt_qmatmul_multi(mats, count, (const float *)a, m, k) != 0) return qthrow(env, "out of memory");
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value lt_js_q_variant(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_string_utf8(env, lt_q_variant(), NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value lt_js_q_gemm_min_rows(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_uint32(env, (uint32_t)lt_q_gemm_min_rows(), &r);
  return r;
}

napi_status lt_quant_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"qmatmul", NULL, lt_js_qmatmul, NULL, NULL, NULL, napi_enumerable, NULL},
    {"qmatmulMulti", NULL, lt_js_qmatmul_multi, NULL, NULL, NULL, napi_enumerable, NULL},
    {"qVariant", NULL, lt_js_q_variant, NULL, NULL, NULL, napi_enumerable, NULL},
    {"qGemmMinRows", NULL, lt_js_q_gemm_min_rows, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
