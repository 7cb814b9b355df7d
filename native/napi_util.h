/*
 * Argument checks shared by the Node-API bindings (addon.c, train_napi.c). Each check returns 1
 * on success, or 0 with a pending JS exception "llama-ts native <fn>: <what went wrong>", so a
 * binding can chain them with || and return NULL on the first failure.
 *
 * Header-only and `static inline` on purpose: compiled out of line in their own .c file they
 * made every kernel call ~30-50 ns slower (measured on calls with tiny sizes), as the compiler
 * could no longer inline them into each binding; this way each binding compiles as it did when
 * it had private copies.
 */
#ifndef LLAMA_TS_NAPI_UTIL_H
#define LLAMA_TS_NAPI_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include <node_api.h>

/* The most arguments any binding reads; argv arrays passed to lt_napi_args hold this many. */
#define LT_NAPI_MAX_ARGS 16

/* Throws "llama-ts native <fn>: <msg>"; returns 0. */
static inline int lt_napi_throw(napi_env env, const char *fn, const char *msg) {
  char buf[256];
  snprintf(buf, sizeof buf, "llama-ts native %s: %s", fn, msg);
  napi_throw_error(env, NULL, buf);
  return 0;
}

/* Fills argv (LT_NAPI_MAX_ARGS slots) and checks that at least `want` arguments were passed. */
static inline int lt_napi_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *fn) {
  size_t argc = LT_NAPI_MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return lt_napi_throw(env, fn, "bad call");
  if (argc < want) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", want, argc);
    return lt_napi_throw(env, fn, msg);
  }
  return 1;
}

/* A typed array of type `want` (Float32Array or Int32Array): its data and length. */
static inline int lt_napi_typed(napi_env env, napi_value v, const char *fn, const char *what,
                                napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  size_t length = 0;
  void *ptr = NULL;
  napi_value ab;
  size_t off = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &off) != napi_ok || type != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a %s", what, want == napi_float32_array ? "Float32Array" : "Int32Array");
    return lt_napi_throw(env, fn, msg);
  }
  *data = ptr; /* already offset by the view's byteOffset */
  *len = length;
  return 1;
}

static inline int lt_napi_f32(napi_env env, napi_value v, const char *fn, const char *what, float **data, size_t *len) {
  void *p;
  if (!lt_napi_typed(env, v, fn, what, napi_float32_array, &p, len)) return 0;
  *data = p;
  return 1;
}

/* A non-negative integer below 2^53. */
static inline int lt_napi_size(napi_env env, napi_value v, const char *fn, const char *what, size_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != floor(d)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a non-negative integer", what);
    return lt_napi_throw(env, fn, msg);
  }
  *out = (size_t)d;
  return 1;
}

static inline int lt_napi_finite(napi_env env, napi_value v, const char *fn, const char *what, double *out) {
  if (napi_get_value_double(env, v, out) != napi_ok || !isfinite(*out)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a finite number", what);
    return lt_napi_throw(env, fn, msg);
  }
  return 1;
}

static inline int lt_napi_bool(napi_env env, napi_value v, const char *fn, const char *what, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    return lt_napi_throw(env, fn, msg);
  }
  *out = b ? 1 : 0;
  return 1;
}

/* have >= a*b*c elements (the product checked for overflow). */
static inline int lt_napi_need(napi_env env, const char *fn, const char *what, size_t have, size_t a, size_t b,
                               size_t c) {
  size_t t, n;
  if (__builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, &n))
    return lt_napi_throw(env, fn, "sizes overflow");
  if (have < n) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s has %zu elements, needs %zu", what, have, n);
    return lt_napi_throw(env, fn, msg);
  }
  return 1;
}

static inline napi_value lt_napi_undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static inline napi_value lt_napi_double(napi_env env, double d) {
  napi_value r;
  napi_create_double(env, d, &r);
  return r;
}

/* Throws "out of memory" for fn; returns NULL, the binding's result. */
static inline napi_value lt_napi_oom(napi_env env, const char *fn) {
  lt_napi_throw(env, fn, "out of memory");
  return NULL;
}

#endif
