/*
 * K-quant products with 8-bit activations in super-blocks of 256, portable C: the activation
 * quantiser shared by every ISA, the float round trip of the gemm path, and the scalar products
 * (the plain statement of the sums in quant_k8.h, which the SIMD files must equal).
 */
#include "quant_k8.h"

#include <math.h>
#include <string.h>

static inline size_t al64(size_t x) { return (x + 63) & ~(size_t)63; }

size_t lt_q8k_row_bytes(size_t k) {
  return al64(k) + al64(k / LT_QK8 * sizeof(float)) + al64(k / 16 * sizeof(int16_t));
}

/*
 * One super-block: q[256], returns d; the quantiser of quant_k8.h. Written to vectorise at the
 * baseline ISA: amax as an integer max over the sign-cleared bits (the order of non-negative
 * floats), then the first value with that magnitude; lrintf rounds half to even (the default
 * mode) and is inlined (cvtss2si / cvtps2dq) under -fno-math-errno.
 */
static float quantize_block(const float *x, int8_t *q) {
  uint32_t bits[LT_QK8], amax = 0;
  memcpy(bits, x, sizeof bits);
  for (int j = 0; j < LT_QK8; j++) {
    const uint32_t a = bits[j] & 0x7fffffffu;
    amax = a > amax ? a : amax;
  }
  if (amax == 0) {
    memset(q, 0, LT_QK8);
    return 0.0f;
  }
  int first = 0;
  while ((bits[first] & 0x7fffffffu) != amax) first++;
  const float iscale = -127.0f / x[first];
  for (int j = 0; j < LT_QK8; j++) {
    const long v = lrintf(iscale * x[j]); /* the rounded product, then round half to even */
    q[j] = (int8_t)(v > 127 ? 127 : v);
  }
  return 1.0f / iscale;
}

void lt_q8k_quantize(const float *x, size_t k, uint8_t *base, lt_q8k_row *row) {
  int8_t *q = (int8_t *)base;
  float *d = (float *)(base + al64(k));
  int16_t *bs = (int16_t *)((uint8_t *)d + al64(k / LT_QK8 * sizeof(float)));
  for (size_t b = 0; b < k / LT_QK8; b++) {
    d[b] = quantize_block(x + b * LT_QK8, q + b * LT_QK8);
    for (int i = 0; i < 16; i++) {
      int s = 0;
      for (int j = 0; j < 16; j++) s += q[b * LT_QK8 + 16 * i + j];
      bs[b * 16 + i] = (int16_t)s;
    }
  }
  row->q = q;
  row->d = d;
  row->bsums = bs;
}

void lt_q8k_roundtrip(float *dst, const float *x, size_t k) {
  int8_t q[LT_QK8];
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const float d = quantize_block(x + b * LT_QK8, q);
    for (int j = 0; j < LT_QK8; j++) dst[b * LT_QK8 + j] = d * (float)q[j];
  }
}

/* q4_K / q5_K (five: the fifth bits at qh = blk + 16, nibbles at blk + 48) */
static float dot_scale_min(const uint8_t *w, const lt_q8k_row *a, size_t k, int five) {
  const size_t bytes = five ? 176 : 144;
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * bytes, *qh = blk + 16, *qs = blk + (five ? 48 : 16);
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    uint8_t sm[16];
    lt_q8k_scale_min_bytes(blk + 4, sm);
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
      const int g = j / 2, hi = j & 1;
      int32_t s = 0;
      for (int l = 0; l < 32; l++) {
        int v = hi ? qs[32 * g + l] >> 4 : qs[32 * g + l] & 15;
        if (five) v |= ((qh[l] >> j) & 1) << 4;
        s += v * q[32 * j + l];
      }
      sumi += sm[j] * s;
      summ += sm[8 + j] * (bs[2 * j] + bs[2 * j + 1]);
    }
    acc += a->d[b] * (lt_q8k_half(blk) * (float)sumi - lt_q8k_half(blk + 2) * (float)summ);
  }
  return acc;
}

float lt_q8k_dot_q4_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 0); }
float lt_q8k_dot_q5_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 1); }

float lt_q8k_dot_q6_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 210;
    const int8_t *sc = (const int8_t *)(blk + 192);
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    int32_t sumi = 0;
    for (int h = 0; h < 2; h++) {
      const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
      for (int part = 0; part < 4; part++) {
        /* values 128h + 32part + l, l < 32: sub-blocks 8h + 2part (l < 16) and 8h + 2part + 1 */
        int32_t s[2] = {0, 0};
        for (int l = 0; l < 32; l++) {
          const uint8_t lo = ql[l + 32 * (part & 1)];
          const int v = (part < 2 ? lo & 15 : lo >> 4) | (((qh[l] >> (2 * part)) & 3) << 4);
          s[l / 16] += v * q[128 * h + 32 * part + l];
        }
        for (int t = 0; t < 2; t++) {
          const int j = 8 * h + 2 * part + t;
          sumi += sc[j] * (s[t] - 32 * bs[j]);
        }
      }
    }
    acc += a->d[b] * (lt_q8k_half(blk + 208) * (float)sumi);
  }
  return acc;
}

/* q3_K: codes c = low 2 bits | third bit << 2 (0..7), value c - 4; scales - 32 */
float lt_q8k_dot_q3_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 110, *hm = blk, *qs = blk + 32;
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    uint32_t r[4];
    lt_q8k_scales_q3(blk + 96, r);
    int32_t sumi = 0;
    for (int j16 = 0; j16 < 16; j16++) {
      const int sc = (int8_t)(uint8_t)(r[j16 / 4] >> (8 * (j16 % 4)));
      int32_t s = 0;
      for (int i = 16 * j16; i < 16 * j16 + 16; i++) {
        const int h = i >> 7, j = (i & 127) >> 5, l = i & 31;
        const int c = ((qs[32 * h + l] >> (2 * j)) & 3) | (((hm[l] >> (i >> 5)) & 1) << 2);
        s += c * q[i];
      }
      sumi += sc * (s - 4 * bs[j16]);
    }
    acc += a->d[b] * (lt_q8k_half(blk + 108) * (float)sumi);
  }
  return acc;
}

/* q2_K: 2-bit codes, per 16 values a 4-bit scale and a 4-bit min */
float lt_q8k_dot_q2_K_scalar(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  float acc = 0.0f;
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 84, *qs = blk + 16;
    const int8_t *q = a->q + b * LT_QK8;
    const int16_t *bs = a->bsums + b * 16;
    int32_t sumi = 0, summ = 0;
    for (int j16 = 0; j16 < 16; j16++) {
      int32_t s = 0;
      for (int i = 16 * j16; i < 16 * j16 + 16; i++) {
        const int h = i >> 7, j = (i & 127) >> 5, l = i & 31;
        s += ((qs[32 * h + l] >> (2 * j)) & 3) * q[i];
      }
      sumi += (blk[j16] & 15) * s;
      summ += (blk[j16] >> 4) * bs[j16];
    }
    acc += a->d[b] * (lt_q8k_half(blk + 80) * (float)sumi - lt_q8k_half(blk + 82) * (float)summ);
  }
  return acc;
}
