/*
 * K-quant products with 8-bit activations (quant_k8.h), AVX-512 BW + VNNI: 64 codes per step
 * in one 512-bit register laid out in activation order, vpmaddubsw for the pairs and
 * vpdpwssd for pairs times the per-lane sub-block scales accumulated into int32; the scale
 * vectors come from one permute of the 8 or 16 int16 scales per step.
 */
#include "quant_k8.h"

#ifdef LT_X86_64
#include <immintrin.h>

static inline float half(const uint8_t *p) {
  uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
  return _cvtsh_ss(h);
}

/* int16 permute indices: lanes 0..15 -> a, lanes 16..31 -> b */
static inline __m512i idx2(int a, int b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)), _mm256_set1_epi16((short)b), 1);
}
/* int16 permute indices: lanes 8i .. 8i+7 -> a + i (4 sub-blocks of 16 values) */
static inline __m512i idx4(int a) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)(a + 1)), _mm_set1_epi16((short)a))),
                            _mm256_set_m128i(_mm_set1_epi16((short)(a + 3)), _mm_set1_epi16((short)(a + 2))), 1);
}

/*
 * q4_K / q5_K: 32 code bytes of group g (64 values: sub-blocks 2g, 2g+1) broadcast to both
 * halves, low nibbles kept in the low half and high nibbles in the high half: then the 64
 * codes are in the order of the activations q[64g .. 64g+63].
 */
static inline float dot_scale_min(const uint8_t *w, const lt_q8k_row *a, size_t k, int five) {
  const size_t bytes = five ? 176 : 144;
  const __m512i m4 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1);
  const __mmask64 hi_half = 0xFFFFFFFF00000000ull;
  __m512i ix[4];
  for (int g = 0; g < 4; g++) ix[g] = idx2(2 * g, 2 * g + 1);
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * bytes, *qs = blk + (five ? 48 : 16);
    const int8_t *q = a->q + b * LT_QK8;
    uint32_t r[4];
    lt_q8k_scale_min(blk + 4, r);
    const __m128i smv = _mm_set_epi32((int)r[3], (int)r[2], (int)r[1], (int)r[0]);
    const __m256i mdup = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(smv, smv));
    const __m256i prodm = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a->bsums + b * 16)), mdup);
    const __m512i s16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(smv)); /* lanes 0..7: the scales */
    __m512i hb = _mm512_setzero_si512();
    if (five) {
      /* fifth bits: bit 2g for the low half, 2g+1 for the high half: shift the high half by one */
      const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)));
      hb = _mm512_mask_blend_epi8(hi_half, h, _mm512_srli_epi16(h, 1));
    }
    __m512i sumi = _mm512_setzero_si512();
    for (int g = 0; g < 4; g++) {
      const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * g)));
      __m512i c = _mm512_and_si512(_mm512_mask_blend_epi8(hi_half, v, _mm512_srli_epi16(v, 4)), m4);
      if (five) c = _mm512_or_si512(c, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hb, 2 * g), one), 4));
      const __m512i pr = _mm512_maddubs_epi16(c, _mm512_loadu_si512(q + 64 * g));
      sumi = _mm512_dpwssd_epi32(sumi, pr, _mm512_permutexvar_epi16(ix[g], s16));
    }
    const float da = a->d[b];
    acc = _mm512_fmadd_ps(_mm512_set1_ps(da * half(blk)), _mm512_cvtepi32_ps(sumi), acc);
    accm = _mm256_fmadd_ps(_mm256_set1_ps(da * half(blk + 2)), _mm256_cvtepi32_ps(prodm), accm);
  }
  return _mm512_reduce_add_ps(_mm512_sub_ps(acc, _mm512_castps256_ps512(accm)));
}

float lt_q8k_dot_q4_K_avx512(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 0); }
float lt_q8k_dot_q5_K_avx512(const uint8_t *w, const lt_q8k_row *a, size_t k) { return dot_scale_min(w, a, k, 1); }

/*
 * q6_K: per 128-value half, the 64 low nibbles of ql are values 0..63 and the 64 high nibbles
 * values 64..127, in activation order; their two high bits come from the 32 qh bytes
 * broadcast to both halves (bits 0-1 / 2-3 for the low nibbles, 4-5 / 6-7 for the high ones).
 */
float lt_q8k_dot_q6_K_avx512(const uint8_t *w, const lt_q8k_row *a, size_t k) {
  const __m512i m4 = _mm512_set1_epi8(15), m3 = _mm512_set1_epi8(3);
  const __mmask64 hi_half = 0xFFFFFFFF00000000ull;
  __m512i ix[4];
  for (int t = 0; t < 4; t++) ix[t] = idx4(4 * t);
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < k / LT_QK8; b++) {
    const uint8_t *blk = w + b * 210;
    const int8_t *q = a->q + b * LT_QK8;
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
    const __m512i s16 = _mm512_castsi256_si512(sc16);
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a->bsums + b * 16)), sc16);
    __m512i sumi = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
      const __m512i l = _mm512_loadu_si512(blk + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h)));
      const __m512i hlo = _mm512_mask_blend_epi8(hi_half, qh, _mm512_srli_epi16(qh, 2));
      const __m512i hhi = _mm512_mask_blend_epi8(hi_half, _mm512_srli_epi16(qh, 4), _mm512_srli_epi16(qh, 6));
      const __m512i c0 = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(_mm512_and_si512(hlo, m3), 4));
      const __m512i c1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_slli_epi16(_mm512_and_si512(hhi, m3), 4));
      const __m512i p0 = _mm512_maddubs_epi16(c0, _mm512_loadu_si512(q + 128 * h));
      const __m512i p1 = _mm512_maddubs_epi16(c1, _mm512_loadu_si512(q + 128 * h + 64));
      sumi = _mm512_dpwssd_epi32(sumi, p0, _mm512_permutexvar_epi16(ix[2 * h], s16));
      sumi = _mm512_dpwssd_epi32(sumi, p1, _mm512_permutexvar_epi16(ix[2 * h + 1], s16));
    }
    sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(a->d[b] * half(blk + 208)), _mm512_cvtepi32_ps(sumi), acc);
  }
  return _mm512_reduce_add_ps(acc);
}
#endif
