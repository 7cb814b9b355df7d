/*
 * K-quant super-blocks (256 values) decoded to float32, one block per call: the layouts of
 * ggml's block_q4_K / block_q5_K / block_q6_K, written from the format description in
 * src/kernels/quant/q4_K.ts, q5_K.ts, q6_K.ts (the TypeScript reference these must equal).
 *
 * A template: native/quant.c includes this file once per instruction set, with KQ(name)
 * defined to give the functions that ISA's suffix and inside that ISA's `#pragma GCC target`
 * region, so the compiler vectorises the same loops for SSE2, AVX2 and AVX-512 (every loop
 * below runs over 16 or 32 values with one scale and one min). Needs rd_half (an f16 read).
 */

/* 6-bit scale and min of sub-block j from the 12 packed bytes s (q4_K, q5_K). */
static inline void KQ(scale_min_k4)(int j, const uint8_t *s, int *sc, int *m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

/* q4_K: d, dmin (f16), scales[12], qs[128]; x = d*sc_j*q - dmin*m_j. */
static void KQ(deq_q4_K)(const uint8_t *blk, float *restrict y) {
  const float d = rd_half(blk), dmin = rd_half(blk + 2);
  const uint8_t *q = blk + 16;
  for (int g = 0; g < 4; g++, q += 32, y += 64) {
    int s1, m1, s2, m2;
    KQ(scale_min_k4)(2 * g, blk + 4, &s1, &m1);
    KQ(scale_min_k4)(2 * g + 1, blk + 4, &s2, &m2);
    const float d1 = d * (float)s1, n1 = dmin * (float)m1, d2 = d * (float)s2, n2 = dmin * (float)m2;
    for (int l = 0; l < 32; l++) y[l] = d1 * (float)(q[l] & 15) - n1;
    for (int l = 0; l < 32; l++) y[32 + l] = d2 * (float)(q[l] >> 4) - n2;
  }
}

/* q5_K: d, dmin, scales[12], qh[32] (5th bits: bits 2g, 2g+1 for group g), qs[128]. */
static void KQ(deq_q5_K)(const uint8_t *blk, float *restrict y) {
  const float d = rd_half(blk), dmin = rd_half(blk + 2);
  const uint8_t *qh = blk + 16, *q = blk + 48;
  for (int g = 0; g < 4; g++, q += 32, y += 64) {
    int s1, m1, s2, m2;
    KQ(scale_min_k4)(2 * g, blk + 4, &s1, &m1);
    KQ(scale_min_k4)(2 * g + 1, blk + 4, &s2, &m2);
    const float d1 = d * (float)s1, n1 = dmin * (float)m1, d2 = d * (float)s2, n2 = dmin * (float)m2;
    const int b1 = 2 * g, b2 = 2 * g + 1;
    for (int l = 0; l < 32; l++) y[l] = d1 * (float)((q[l] & 15) | (((qh[l] >> b1) & 1) << 4)) - n1;
    for (int l = 0; l < 32; l++) y[32 + l] = d2 * (float)((q[l] >> 4) | (((qh[l] >> b2) & 1) << 4)) - n2;
  }
}

/* q6_K: ql[128], qh[64], int8 scales[16], d (f16); x = d*sc_j*(q - 32). */
static void KQ(deq_q6_K)(const uint8_t *blk, float *restrict y) {
  const float d = rd_half(blk + 208);
  const int8_t *sc = (const int8_t *)(blk + 192);
  const uint8_t *ql = blk, *qh = blk + 128;
  for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
    for (int half = 0; half < 2; half++) {
      const int o = 16 * half;
      const float s0 = d * (float)sc[half], s1 = d * (float)sc[half + 2], s2 = d * (float)sc[half + 4], s3 = d * (float)sc[half + 6];
      for (int l = o; l < o + 16; l++) y[l] = s0 * (float)(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
      for (int l = o; l < o + 16; l++) y[l + 32] = s1 * (float)(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
      for (int l = o; l < o + 16; l++) y[l + 64] = s2 * (float)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      for (int l = o; l < o + 16; l++) y[l + 96] = s3 * (float)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

/* q3_K: hmask[32] (third bits), qs[64] (low 2 bits), 12 bytes of 6-bit scales, d (f16);
   x = d*(sc_j - 32)*(q - 4), value i: bit i/32 of hmask[i%32], qs[32h + l] >> 2j (see q3_K.ts). */
static void KQ(deq_q3_K)(const uint8_t *blk, float *restrict y) {
  const float d = rd_half(blk + 108);
  const uint8_t *hm = blk, *qs = blk + 32, *s = blk + 96;
  for (int j16 = 0; j16 < 16; j16++) {
    const int low = j16 < 8 ? s[j16] & 15 : s[j16 - 8] >> 4;
    const float dl = d * (float)((low | (((s[8 + (j16 & 3)] >> (2 * (j16 >> 2))) & 3) << 4)) - 32);
    const int i0 = 16 * j16, h = i0 >> 7, j = (i0 & 127) >> 5, bit = i0 >> 5, l0 = i0 & 31;
    for (int l = l0; l < l0 + 16; l++) y[i0 + l - l0] = dl * (float)(((qs[32 * h + l] >> (2 * j)) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4));
  }
}

/* q2_K: scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin (f16); x = d*sc_j*q - dmin*m_j. */
static void KQ(deq_q2_K)(const uint8_t *blk, float *restrict y) {
  const float d = rd_half(blk + 80), dmin = rd_half(blk + 82);
  const uint8_t *qs = blk + 16;
  for (int j16 = 0; j16 < 16; j16++) {
    const float dl = d * (float)(blk[j16] & 15), ml = dmin * (float)(blk[j16] >> 4);
    const int i0 = 16 * j16, h = i0 >> 7, j = (i0 & 127) >> 5, l0 = i0 & 31;
    for (int l = l0; l < l0 + 16; l++) y[i0 + l - l0] = dl * (float)((qs[32 * h + l] >> (2 * j)) & 3) - ml;
  }
}
