/*
 * K-quant products with 8-bit activations (quant_k8.h), AVX2 (+FMA, F16C): unsigned weight
 * codes times signed activations with vpmaddubsw (pairs, no saturation: codes <= 63,
 * |q_a| <= 127), pairs times the sub-block scales with vpmaddwd, int32 sums per super-block,
 * converted and scaled once per super-block; the min / -32 terms from the activation's bsums.
 */
#include "quant_k8.h"

#ifdef LT_X86_64
#include <immintrin.h>

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float half(const uint8_t *p) {
  uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
  return _cvtsh_ss(h);
}

/* int16 lanes all equal to sub-block scale j (j < 8) of the 8 int16 scales in both 128-bit halves of s16 */
static inline __m256i scale_bcast(__m256i s16, int j) {
  const __m256i idx = _mm256_set1_epi16((short)((2 * j) | ((2 * j + 1) << 8)));
  return _mm256_shuffle_epi8(s16, idx);
}

static inline float dot_scale_min(const uint8_t *w, const lt_q8k_row *a, size_t k, int five) {
  const size_t bytes = five ? 176 : 144;
  const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * bytes, *qs = blk + (five ? 48 : 16);
    const int8_t *q = a->q + b * LT_QK8;
    uint32_t r[4];
    lt_q8k_scale_min(blk + 4, r);
    const __m128i smv = _mm_set_epi32((int)r[3], (int)r[2], (int)r[1], (int)r[0]);
    /* mins: sum_j m_j (bsums[2j] + bsums[2j+1]) as 8 int32 lanes m_j * (...) */
    const __m256i mdup = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(smv, smv));
    const __m256i prodm = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a->bsums + b * 16)), mdup);
    const __m256i s16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(smv));
    const __m256i hb = five ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
    __m256i sumi = _mm256_setzero_si256();
    for (int g = 0; g < 4; g++) {
      const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * g));
      __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if (five) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * g), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * g + 1), one), 4));
      }
      const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q + 64 * g)));
      const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q + 64 * g + 32)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, scale_bcast(s16, 2 * g)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, scale_bcast(s16, 2 * g + 1)));
    }
    const float da = a->d[b];
    acc = _mm256_fmadd_ps(_mm256_set1_ps(da * half(blk)), _mm256_cvtepi32_ps(sumi), acc);
    accm = _mm256_fmadd_ps(_mm256_set1_ps(da * half(blk + 2)), _mm256_cvtepi32_ps(prodm), accm);
  }
  return hsum8(_mm256_sub_ps(acc, accm));
}

float lt_q8k_dot_q4_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 0); }
float lt_q8k_dot_q5_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 1); }

/*
 * q6_K: per 128-value half, four 32-value parts (two sub-blocks of 16 each: one per 128-bit
 * lane of the products); codes 0..63 unsigned, the -32 through 32 * sum_j sc_j bsums_j.
 */
float lt_q8k_dot_q6_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
  /* shuffle masks: low lane = int16 scale 2p, high lane = int16 scale 2p+1 (of the half's 8) */
  __m256i sh[4];
  for (int p = 0; p < 4; p++) {
    const short lo = (short)((4 * p) | ((4 * p + 1) << 8)), hi = (short)((4 * p + 2) | ((4 * p + 3) << 8));
    sh[p] = _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
  }
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 210;
    const int8_t *q = a->q + b * LT_QK8;
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)(blk + 192));
    /* 32 * sum_j sc_j bsums_j, as 8 int32 lanes */
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a->bsums + b * 16)), _mm256_cvtepi8_epi16(sc8));
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      const uint8_t *ql = blk + 64 * h, *qhp = blk + 128 + 32 * h;
      const __m256i s16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(h ? _mm_unpackhi_epi64(sc8, sc8) : sc8));
      const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
      const __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
      __m256i v[4];
      v[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
      v[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
      v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
      v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
      for (int p = 0; p < 4; p++) {
        const __m256i pr = _mm256_maddubs_epi16(v[p], _mm256_loadu_si256((const __m256i *)(q + 128 * h + 32 * p)));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pr, _mm256_shuffle_epi8(s16, sh[p])));
      }
    }
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a->d[b] * half(blk + 208)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}
#endif

#ifdef LT_X86_64
/*
 * q3_K / q2_K: per 128-value half, 32 bytes of 2-bit codes give four 32-value parts (shift 2j),
 * each two sub-blocks of 16 (one per 128-bit lane of the products, as for q6_K). q3_K adds its
 * third bit from hmask (bit 4h + j) and subtracts 4 * sum_j sc_j bsums_j; q2_K subtracts
 * dmin * sum_j m_j bsums_j in float.
 */
static inline float dot_2bit(const uint8_t *w, const lt_q8k_row *a, size_t k, int three) {
  const size_t bytes = three ? 110 : 84;
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), m15 = _mm256_set1_epi8(15);
  __m256i sh[4];
  for (int p = 0; p < 4; p++) {
    const short lo = (short)((4 * p) | ((4 * p + 1) << 8)), hi = (short)((4 * p + 2) | ((4 * p + 3) << 8));
    sh[p] = _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
  }
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * bytes, *qs = blk + (three ? 32 : 16);
    const int8_t *q = a->q + b * LT_QK8;
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)(a->bsums + b * 16));
    __m128i sc8;
    if (three) {
      uint32_t r[4];
      lt_q8k_scales_q3(blk + 96, r);
      sc8 = _mm_set_epi32((int)r[3], (int)r[2], (int)r[1], (int)r[0]);
    } else {
      sc8 = _mm_loadu_si128((const __m128i *)blk);
    }
    const __m256i sc16 = three ? _mm256_cvtepi8_epi16(sc8) : _mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm256_castsi256_si128(m15)));
    const __m256i hm = three ? _mm256_loadu_si256((const __m256i *)blk) : _mm256_setzero_si256();
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      const __m256i s16 = _mm256_permute2x128_si256(sc16, sc16, h ? 0x11 : 0x00);
      const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
      for (int j = 0; j < 4; j++) {
        __m256i c = _mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m3);
        if (three) c = _mm256_or_si256(c, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), one), 2));
        const __m256i pr = _mm256_maddubs_epi16(c, _mm256_loadu_si256((const __m256i *)(q + 128 * h + 32 * j)));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pr, _mm256_shuffle_epi8(s16, sh[j])));
      }
    }
    if (three) {
      sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 2));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(a->d[b] * half(blk + 108)), _mm256_cvtepi32_ps(sumi), acc);
    } else {
      const __m256i mins = _mm256_cvtepu8_epi16(_mm_srli_epi16(_mm_andnot_si128(_mm256_castsi256_si128(m15), sc8), 4));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(a->d[b] * half(blk + 80)), _mm256_cvtepi32_ps(sumi), acc);
      accm = _mm256_fmadd_ps(_mm256_set1_ps(a->d[b] * half(blk + 82)), _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, mins)), accm);
    }
  }
  return hsum8(_mm256_sub_ps(acc, accm));
}

float lt_q8k_dot_q3_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_2bit(w, a, k, 1); }
float lt_q8k_dot_q2_K_avx2(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_2bit(w, a, k, 0); }
#endif
