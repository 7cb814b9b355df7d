/*
 * K-quant products with 8-bit activations, WebAssembly SIMD128 (the browser build): q4_K, q5_K
 * q6_K, q3_K and q2_K, the sums of quant_k8.h as quant_k8.c states them. 16 weight codes (0..63, as int8)
 * times 16 activations per step: both widened to 16 bits and summed in pairs into 4 int32 lanes
 * (i32x4.dot_i16x8_s), multiplied by the sub-block's scale in the lanes; the lanes and the
 * min / offset terms are summed once per super-block.
 */
#ifdef __wasm_simd128__
#include "quant_k8.h"

static inline int32_t hsum_i32x4(v128_t v) {
  return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) + wasm_i32x4_extract_lane(v, 2) +
         wasm_i32x4_extract_lane(v, 3);
}

/* q4_K / q5_K: sub-block j (32 values) of group g = j/2 is the low (j even) or high nibbles of qs[32g..32g+31], plus (q5_K) bit j of qh[l] as 16. */
static float dot_scale_min(const uint8_t *w, const lt_q8k_row *a, size_t k, int five) {
  const size_t bytes = five ? 176 : 144;
  const v128_t m4 = wasm_i8x16_splat(15), one = wasm_i8x16_splat(1);
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * bytes, *qh = blk + 16, *qs = blk + (five ? 48 : 16);
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    uint8_t sm[16];
    lt_q8k_scale_min_bytes(blk + 4, sm);
    const v128_t h0 = wasm_v128_load(qh), h1 = wasm_v128_load(qh + 16);
    v128_t sumi = wasm_i32x4_splat(0);
    int32_t summ = 0;
    for (int g = 0; g < 4; g++) {
      const v128_t v0 = wasm_v128_load(qs + 32 * g), v1 = wasm_v128_load(qs + 32 * g + 16);
      for (int hi = 0; hi < 2; hi++) {
        const int j = 2 * g + hi;
        v128_t c0 = hi ? wasm_u8x16_shr(v0, 4) : wasm_v128_and(v0, m4);
        v128_t c1 = hi ? wasm_u8x16_shr(v1, 4) : wasm_v128_and(v1, m4);
        if (five) {
          c0 = wasm_v128_or(c0, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h0, j), one), 4));
          c1 = wasm_v128_or(c1, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h1, j), one), 4));
        }
        const v128_t s = wasm_i32x4_add(lt_idot16_simd128(c0, wasm_v128_load(q + 32 * j)), lt_idot16_simd128(c1, wasm_v128_load(q + 32 * j + 16)));
        sumi = wasm_i32x4_add(sumi, wasm_i32x4_mul(s, wasm_i32x4_splat(sm[j])));
        summ += sm[8 + j] * (bs[2 * j] + bs[2 * j + 1]);
      }
    }
    acc += a->d[b] * (lt_q8k_half(blk) * (float)hsum_i32x4(sumi) - lt_q8k_half(blk + 2) * (float)summ);
  }
  return acc;
}

float lt_q8k_dot_q4_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 0); }
float lt_q8k_dot_q5_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 1); }

/* q6_K: values 128h + 32part + l = (low or high nibble of ql[l + 32(part&1)]) | ((qh[l] >> 2part) & 3) << 4, minus 32 through bsums. */
float lt_q8k_dot_q6_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  const v128_t m4 = wasm_i8x16_splat(15), m3 = wasm_i8x16_splat(3);
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 210;
    const int8_t *sc = (const int8_t *)(blk + 192);
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    v128_t sumi = wasm_i32x4_splat(0);
    int32_t off = 0;
    for (int h = 0; h < 2; h++) {
      const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
      const v128_t hb[2] = {wasm_v128_load(qh), wasm_v128_load(qh + 16)};
      for (int part = 0; part < 4; part++) {
        for (int t = 0; t < 2; t++) {
          const v128_t lo = wasm_v128_load(ql + 16 * t + 32 * (part & 1));
          const v128_t c = wasm_v128_or(part < 2 ? wasm_v128_and(lo, m4) : wasm_u8x16_shr(lo, 4),
                                        wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(hb[t], 2 * part), m3), 4));
          const int j = 8 * h + 2 * part + t;
          const v128_t s = lt_idot16_simd128(c, wasm_v128_load(q + 128 * h + 32 * part + 16 * t));
          sumi = wasm_i32x4_add(sumi, wasm_i32x4_mul(s, wasm_i32x4_splat(sc[j])));
          off += sc[j] * bs[j];
        }
      }
    }
    acc += a->d[b] * (lt_q8k_half(blk + 208) * (float)(hsum_i32x4(sumi) - 32 * off));
  }
  return acc;
}

/* q3_K: value i (sub-block j16 = i/16, h = i/128, j = i%128/32, l = i%32) has code ((qs[32h + l] >> 2j) & 3) | (bit i/32 of hm[l]) << 2, minus 4 through bsums. */
float lt_q8k_dot_q3_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  const v128_t m3 = wasm_i8x16_splat(3), one = wasm_i8x16_splat(1);
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 110, *hm = blk, *qs = blk + 32;
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    uint32_t r[4];
    lt_q8k_scales_q3(blk + 96, r);
    v128_t sumi = wasm_i32x4_splat(0);
    int32_t off = 0;
    for (int j16 = 0; j16 < 16; j16++) {
      const int sc = (int8_t)(uint8_t)(r[j16 / 4] >> (8 * (j16 % 4)));
      const int h = j16 >> 3, j = (j16 & 7) >> 1, l0 = (j16 & 1) * 16;
      const v128_t lo = wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(qs + 32 * h + l0), 2 * j), m3);
      const v128_t hi = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(hm + l0), j16 >> 1), one), 2);
      const v128_t s = lt_idot16_simd128(wasm_v128_or(lo, hi), wasm_v128_load(q + 16 * j16));
      sumi = wasm_i32x4_add(sumi, wasm_i32x4_mul(s, wasm_i32x4_splat(sc)));
      off += sc * bs[j16];
    }
    acc += a->d[b] * (lt_q8k_half(blk + 108) * (float)(hsum_i32x4(sumi) - 4 * off));
  }
  return acc;
}

/* q2_K: value i has code (qs[32h + l] >> 2j) & 3 (as q3_K's low bits), scale blk[j16] & 15, min blk[j16] >> 4. */
float lt_q8k_dot_q2_K_simd128(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  const v128_t m3 = wasm_i8x16_splat(3);
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 84, *qs = blk + 16;
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    v128_t sumi = wasm_i32x4_splat(0);
    int32_t summ = 0;
    for (int j16 = 0; j16 < 16; j16++) {
      const int h = j16 >> 3, j = (j16 & 7) >> 1, l0 = (j16 & 1) * 16;
      const v128_t c = wasm_v128_and(wasm_u8x16_shr(wasm_v128_load(qs + 32 * h + l0), 2 * j), m3);
      const v128_t s = lt_idot16_simd128(c, wasm_v128_load(q + 16 * j16));
      sumi = wasm_i32x4_add(sumi, wasm_i32x4_mul(s, wasm_i32x4_splat(blk[j16] & 15)));
      summ += (blk[j16] >> 4) * bs[j16];
    }
    acc += a->d[b] * (lt_q8k_half(blk + 80) * (float)hsum_i32x4(sumi) - lt_q8k_half(blk + 82) * (float)summ);
  }
  return acc;
}
#endif
