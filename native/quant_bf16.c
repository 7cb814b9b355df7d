/*
 * bf16 weight kernels (see quant_bf16.h). A bf16 value b is the float with bits b << 16, so the
 * vector paths (AVX2, AVX-512, WebAssembly SIMD128) widen 4-16 values with one zero-extension and one shift, then multiply-add in
 * float32 like the f16 kernels in quant.c (two accumulators, one horizontal sum at the end).
 */
#include "quant_bf16.h"

#include <string.h>

#include "lt.h"

#ifdef LT_X86_64
#include <immintrin.h>
#endif

static inline float bf16_to_float(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  const uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

float lt_bf16_dot_scalar(const uint8_t *w, const float *x, size_t k) {
  float acc = 0.0f;
  for (size_t i = 0; i < k; i++) acc += bf16_to_float(w + 2 * i) * x[i];
  return acc;
}

void lt_bf16_widen_scalar(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *src = w + r * row_bytes + 2 * p0;
    for (size_t p = 0; p < kcb; p++) dst[p] = bf16_to_float(src + 2 * p);
  }
}

#ifdef LT_X86_64
#pragma GCC push_options
#pragma GCC target("avx2,fma")

static inline __m256 widen8_avx2(const uint8_t *p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

float lt_bf16_dot_avx2(const uint8_t *w, const float *x, size_t k) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= k; i += 16) {
    acc0 = _mm256_fmadd_ps(widen8_avx2(w + 2 * i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(widen8_avx2(w + 2 * i + 16), _mm256_loadu_ps(x + i + 8), acc1);
  }
  const __m256 v = _mm256_add_ps(acc0, acc1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  float acc = _mm_cvtss_f32(s);
  for (; i < k; i++) acc += bf16_to_float(w + 2 * i) * x[i];
  return acc;
}

void lt_bf16_widen_avx2(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *src = w + r * row_bytes + 2 * p0;
    size_t p = 0;
    for (; p + 8 <= kcb; p += 8) _mm256_storeu_ps(dst + p, widen8_avx2(src + 2 * p));
    for (; p < kcb; p++) dst[p] = bf16_to_float(src + 2 * p);
  }
}

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")

static inline __m512 widen16_avx512(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

float lt_bf16_dot_avx512(const uint8_t *w, const float *x, size_t k) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= k; i += 32) {
    acc0 = _mm512_fmadd_ps(widen16_avx512(_mm256_loadu_si256((const __m256i *)(w + 2 * i))), _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(widen16_avx512(_mm256_loadu_si256((const __m256i *)(w + 2 * i + 32))), _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i < k; i += 16) {
    /* the tail (and a last partial vector) through masked loads: no read past the row */
    const size_t left = k - i;
    const __mmask16 km = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
    acc0 = _mm512_fmadd_ps(widen16_avx512(_mm256_maskz_loadu_epi16(km, w + 2 * i)), _mm512_maskz_loadu_ps(km, x + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void lt_bf16_widen_avx512(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *src = w + r * row_bytes + 2 * p0;
    for (size_t p = 0; p < kcb; p += 16) {
      const size_t left = kcb - p;
      const __mmask16 km = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
      _mm512_mask_storeu_ps(dst + p, km, widen16_avx512(_mm256_maskz_loadu_epi16(km, src + 2 * p)));
    }
  }
}

#pragma GCC pop_options
#else
#ifdef __wasm_simd128__
#include <wasm_simd128.h>

float lt_bf16_dot_simd128(const uint8_t *w, const float *x, size_t k) {
  v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = wasm_f32x4_splat(0.0f);
  size_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const v128_t h = wasm_v128_load(w + 2 * i);
    acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(h), 16), wasm_v128_load(x + i)));
    acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(h), 16), wasm_v128_load(x + i + 4)));
  }
  const v128_t v = wasm_f32x4_add(acc0, acc1);
  float acc = wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
  for (; i < k; i++) acc += bf16_to_float(w + 2 * i) * x[i];
  return acc;
}
#endif
float lt_bf16_dot_avx2(const uint8_t *w, const float *x, size_t k) { return lt_bf16_dot_scalar(w, x, k); }
float lt_bf16_dot_avx512(const uint8_t *w, const float *x, size_t k) { return lt_bf16_dot_scalar(w, x, k); }
void lt_bf16_widen_avx2(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) { lt_bf16_widen_scalar(dst, w, row_bytes, rows, p0, kcb); }
void lt_bf16_widen_avx512(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) { lt_bf16_widen_scalar(dst, w, row_bytes, rows, p0, kcb); }
#endif
