/*
 * bf16 weights (ggml type 30): the upper 16 bits of an IEEE binary32, so widening is exact
 * (bits << 16). Row dot products with float32 activations and the widening of weight panels
 * for the packed gemm; registered in native/quant.c's per-type table beside f16.
 */
#ifndef LLAMA_TS_QUANT_BF16_H
#define LLAMA_TS_QUANT_BF16_H

#include <stddef.h>
#include <stdint.h>

#define LT_QT_BF16 30

/* sum_i bf16(w[i]) * x[i] over k values (w: k little-endian bf16 values, any alignment). */
float lt_bf16_dot_scalar(const uint8_t *w, const float *x, size_t k);
float lt_bf16_dot_avx2(const uint8_t *w, const float *x, size_t k);
float lt_bf16_dot_avx512(const uint8_t *w, const float *x, size_t k);
#ifdef __wasm_simd128__
float lt_bf16_dot_simd128(const uint8_t *w, const float *x, size_t k); /* the browser build */
#endif

/* dst[r*kcb + p] = bf16 value (r, p0 + p) for r < rows, p < kcb, row r at w + r*row_bytes. */
void lt_bf16_widen_scalar(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb);
void lt_bf16_widen_avx2(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb);
void lt_bf16_widen_avx512(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb);

#endif
