/*
 * K-quant products with 8-bit activations in super-blocks of 256 (the idea of llama.cpp's Q8_K):
 * an activation row x is quantised once per call, per 256 values,
 *
 *   max = the value of largest |x| (the first one), iscale = -127/max, d = 1/iscale,
 *   q_j = min(127, round_half_even(iscale * x_j))       (all zero when max = 0: d = 0)
 *   bsums[i] = sum of q over values 16i .. 16i+15        (int16)
 *
 * and a weight row times it is, per super-block, d_a times an exact integer sum scaled by the
 * block's float scales:
 *
 *   q4_K, q5_K:  d_a * (d * sum_j sc_j * sum_{32 values of j} q_w q_a  -  dmin * sum_j m_j * (bsums of j))
 *   q6_K:        d_a *  d * sum_j sc_j * (sum_{16 values of j} q_w q_a  -  32 * bsums[j])   (q_w in 0..63)
 *   q3_K:        d_a *  d * sum_j (sc_j - 32) * (sum_{16 values of j} c_w q_a  -  4 * bsums[j])   (c_w in 0..7)
 *   q2_K:        d_a * (d * sum_j sc_j * sum_{16 values of j} q_w q_a  -  dmin * sum_j m_j * bsums[j])
 *
 * The integer parts are exact (|q_a| <= 127), so the kernels of every ISA and the TypeScript
 * reference (rowDot of src/kernels/quant/q4_K.ts, q5_K.ts, q6_K.ts, q3_K.ts, q2_K.ts; the quantiser in
 * src/kernels/quant/q8-k.ts) agree to float rounding of the per-block combination and the sum.
 * One portable quantiser serves every ISA: it costs O(k) per row against O(n*k) products.
 *
 * Files: quant_k8.c (quantiser, portable products, the float round trip the gemm path uses),
 * quant_k8_avx2.c (AVX2: vpmaddubsw + vpmaddwd), quant_k8_avx512.c (AVX-512 BW + VNNI:
 * vpmaddubsw + vpdpwssd on 512 bits; q3_K and q2_K take the AVX2 kernels there),
 * quant_k8_wasm.c (WebAssembly SIMD128, the browser build: every K-quant);
 * native/quant.c registers them in its per-type table.
 */
#ifndef LLAMA_TS_QUANT_K8_H
#define LLAMA_TS_QUANT_K8_H

#include <stddef.h>
#include <stdint.h>

#include "lt.h"

#define LT_QK8 256

/* One quantised activation row: q[k], d[k/256], bsums[k/16]. */
typedef struct {
  const int8_t *q;
  const float *d;
  const int16_t *bsums;
} lt_q8k_row;

/* Bytes lt_q8k_quantize writes for a row of k values (k a multiple of 256), each part 64-byte aligned. */
size_t lt_q8k_row_bytes(size_t k);
/* Quantises x (k values, a multiple of 256) into base (lt_q8k_row_bytes(k) bytes, 64-byte aligned). */
void lt_q8k_quantize(const float *x, size_t k, uint8_t *base, lt_q8k_row *row);
/* dst[j] = d_b * q_j: the activation as the integer products see it (the gemm path's operand). */
void lt_q8k_roundtrip(float *dst, const float *x, size_t k);

/* Weight row (k values, whole super-blocks) . activation row. */
typedef float (*lt_q8k_dot_fn)(const uint8_t *w, const lt_q8k_row *a, size_t k);

float lt_q8k_dot_q4_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q5_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q6_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q3_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q2_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k);
#ifdef LT_X86_64
float lt_q8k_dot_q3_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q2_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q4_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q5_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q6_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q4_K_avx512(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q5_K_avx512(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q6_K_avx512(const uint8_t *w, const lt_q8k_row *a, size_t k);
#endif
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
float lt_q8k_dot_q4_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q5_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q6_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q3_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k);
float lt_q8k_dot_q2_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k);

/* SIMD128: 16 int8 products summed into 4 int32 lanes, both operands widened to 16 bits (i32x4.dot_i16x8_s: exact for any int8). */
static inline v128_t lt_idot16_simd128(v128_t w, v128_t x) {
  const v128_t lo = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(w), wasm_i16x8_extend_low_i8x16(x));
  const v128_t hi = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(w), wasm_i16x8_extend_high_i8x16(x));
  return wasm_i32x4_add(lo, hi);
}
#endif

/* f16 bits to float (exact): the one decoder of the quantised kernels' f16 block scales (quant.c uses it too). */
static inline float lt_half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    uint32_t e = 113;
    while (!(mant & 0x400)) {
      mant <<= 1;
      e--;
    }
    bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
  }
  union {
    uint32_t u;
    float f;
  } v = {bits};
  return v.f;
}

/* The f16 at p (little-endian bytes, any alignment). */
static inline float lt_q8k_half(const uint8_t *p) {
  return lt_half_to_float((uint16_t)(p[0] | (p[1] << 8)));
}

/*
 * The 8 six-bit scales and 8 mins of q4_K/q5_K from their 12 bytes s, as bytes of 4 words:
 * sc[0..7] in r[0..1], m[0..7] in r[2..3] (little-endian; ggml's get_scale_min_k4 for all j at
 * once: j < 4: sc = s[j] & 63, m = s[j+4] & 63; j >= 4: sc = s[j+4] & 15 | (s[j-4] >> 6) << 4,
 * m = s[j+4] >> 4 | (s[j] >> 6) << 4, done on 32-bit words). Words, not bytes, so that SIMD
 * code can move them into a vector register without a store and a wider reload.
 */
static inline void lt_q8k_scale_min(const uint8_t *s, uint32_t r[4]) {
  uint32_t w0, w1, w2;
  w0 = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
  w1 = (uint32_t)s[4] | (uint32_t)s[5] << 8 | (uint32_t)s[6] << 16 | (uint32_t)s[7] << 24;
  w2 = (uint32_t)s[8] | (uint32_t)s[9] << 8 | (uint32_t)s[10] << 16 | (uint32_t)s[11] << 24;
  r[0] = w0 & 0x3f3f3f3fu;
  r[1] = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
  r[2] = w1 & 0x3f3f3f3fu;
  r[3] = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
}

/* The same as bytes: sm[j] the scale, sm[8 + j] the min of sub-block j. */
static inline void lt_q8k_scale_min_bytes(const uint8_t *s, uint8_t sm[16]) {
  uint32_t r[4];
  lt_q8k_scale_min(s, r);
  for (int i = 0; i < 16; i++) sm[i] = (uint8_t)(r[i / 4] >> (8 * (i % 4)));
}

/*
 * The 16 six-bit scales of q3_K from their 12 bytes s, minus 32 (signed bytes in r, little-endian):
 * low 4 bits s[j] & 15 (j < 8) or s[j-8] >> 4, high 2 bits s[8 + j%4] >> 2(j/4) & 3.
 */
static inline void lt_q8k_scales_q3(const uint8_t *s, uint32_t r[4]) {
  uint32_t a0, a1, a2;
  a0 = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
  a1 = (uint32_t)s[4] | (uint32_t)s[5] << 8 | (uint32_t)s[6] << 16 | (uint32_t)s[7] << 24;
  a2 = (uint32_t)s[8] | (uint32_t)s[9] << 8 | (uint32_t)s[10] << 16 | (uint32_t)s[11] << 24;
  const uint32_t lo[4] = {a0 & 0x0f0f0f0fu, a1 & 0x0f0f0f0fu, (a0 >> 4) & 0x0f0f0f0fu, (a1 >> 4) & 0x0f0f0f0fu};
  for (int i = 0; i < 4; i++) {
    const uint32_t v = lo[i] | (((a2 >> (2 * i)) & 0x03030303u) << 4); /* bytes 0..63 */
    r[i] = (v | 0x80808080u) - 0x20202020u; /* per byte: (v + 128 - 32) ^ 128 = v - 32 as a signed byte */
    r[i] ^= 0x80808080u;
  }
}

#endif
