/*
 * AVX2 + FMA path. Compiled with -mavx2 -mfma (binding.gyp); only called after a run-time CPU
 * check (addon.c).
 */
#include "lt.h"

#ifdef LT_X86_64
#include <immintrin.h>
#include "isa_generic.h"

#define MR 6
#define NR 16

/* ---- gemm micro-kernel: 6 x 16 tile, 12 ymm accumulators ---- */

#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define UK_DECL(r) __m256 c##r##a = _mm256_setzero_ps(), c##r##b = _mm256_setzero_ps();
#define UK_STEP(r)                                      \
  {                                                     \
    const __m256 av = _mm256_broadcast_ss(ap + (r));    \
    c##r##a = _mm256_fmadd_ps(av, b0, c##r##a);         \
    c##r##b = _mm256_fmadd_ps(av, b1, c##r##b);         \
  }
#define UK_STORE_FULL(r)                                                     \
  {                                                                          \
    float *cr = c + (r) * ldc;                                               \
    if (accumulate) {                                                        \
      c##r##a = _mm256_add_ps(c##r##a, _mm256_loadu_ps(cr));                 \
      c##r##b = _mm256_add_ps(c##r##b, _mm256_loadu_ps(cr + 8));             \
    }                                                                        \
    _mm256_storeu_ps(cr, c##r##a);                                           \
    _mm256_storeu_ps(cr + 8, c##r##b);                                       \
  }
#define UK_TILE(r)                                  \
  _mm256_storeu_ps(t + (r) * NR, c##r##a);          \
  _mm256_storeu_ps(t + (r) * NR + 8, c##r##b);

static void ukernel(size_t kc, const float *ap, const float *bp, float *c, size_t ldc, int accumulate,
                    size_t mr_eff, size_t nr_eff) {
  ROWS6(UK_DECL)
  for (size_t p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_loadu_ps(bp);
    const __m256 b1 = _mm256_loadu_ps(bp + 8);
    ROWS6(UK_STEP)
    ap += MR;
    bp += NR;
  }
  if (mr_eff == MR && nr_eff == NR) {
    ROWS6(UK_STORE_FULL)
  } else {
    float t[MR * NR];
    ROWS6(UK_TILE)
    for (size_t i = 0; i < mr_eff; i++) {
      float *ci = c + i * ldc;
      if (accumulate)
        for (size_t j = 0; j < nr_eff; j++) ci[j] += t[i * NR + j];
      else
        for (size_t j = 0; j < nr_eff; j++) ci[j] = t[i * NR + j];
    }
  }
}

static void pack_a(float *dst, const float *src, size_t ld, size_t rows, size_t kc) {
  gen_pack(dst, src, ld, rows, kc, MR);
}
static void pack_b(float *dst, const float *src, size_t ld, size_t rows, size_t kc) {
  gen_pack(dst, src, ld, rows, kc, NR);
}

/* ---- dot-product tiles ---- */

static inline __m256i tail_mask(size_t r) { /* first r (< 8) lanes */
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), idx);
}

static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) void dot_tile_fixed(float *out, size_t ldo, const float *a,
                                                                  size_t lda, const float *w, size_t ldw,
                                                                  size_t k, const int mrows, const int nrows) {
  __m256 acc[4][8];
  for (int i = 0; i < mrows; i++)
    for (int j = 0; j < nrows; j++) acc[i][j] = _mm256_setzero_ps();
  size_t p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 av[4];
    for (int i = 0; i < mrows; i++) av[i] = _mm256_loadu_ps(a + i * lda + p);
    for (int j = 0; j < nrows; j++) {
      const __m256 wv = _mm256_loadu_ps(w + j * ldw + p);
      for (int i = 0; i < mrows; i++) acc[i][j] = _mm256_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  if (p < k) {
    const __m256i km = tail_mask(k - p);
    __m256 av[4];
    for (int i = 0; i < mrows; i++) av[i] = _mm256_maskload_ps(a + i * lda + p, km);
    for (int j = 0; j < nrows; j++) {
      const __m256 wv = _mm256_maskload_ps(w + j * ldw + p, km);
      for (int i = 0; i < mrows; i++) acc[i][j] = _mm256_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < mrows; i++)
    for (int j = 0; j < nrows; j++) out[i * ldo + j] = hsum256(acc[i][j]);
}

#define DOT_TILE_M(M, G)                                                                         \
  static void dot_tile_m##M(float *out, size_t ldo, const float *a, size_t lda, const float *w, size_t ldw, \
                            size_t nrows, size_t k) {                                                   \
    size_t j = 0;                                                                                        \
    for (; j + (G) <= nrows; j += (G)) dot_tile_fixed(out + j, ldo, a, lda, w + j * ldw, ldw, k, M, G);  \
    for (; j < nrows; j++) dot_tile_fixed(out + j, ldo, a, lda, w + j * ldw, ldw, k, M, 1);             \
  }
DOT_TILE_M(1, 8)
DOT_TILE_M(2, 4)
DOT_TILE_M(3, 3)
DOT_TILE_M(4, 2)

static void dot_tile(float *out, size_t ldo, const float *a, size_t lda, size_t mrows, const float *w, size_t ldw,
                     size_t nrows, size_t k) {
  switch (mrows) {
    case 1: dot_tile_m1(out, ldo, a, lda, w, ldw, nrows, k); break;
    case 2: dot_tile_m2(out, ldo, a, lda, w, ldw, nrows, k); break;
    case 3: dot_tile_m3(out, ldo, a, lda, w, ldw, nrows, k); break;
    case 4: dot_tile_m4(out, ldo, a, lda, w, ldw, nrows, k); break;
    default: gen_dot_tile(out, ldo, a, lda, mrows, w, ldw, nrows, k); break;
  }
}

static float dot(const float *a, const float *b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  if (i < n) {
    const __m256i km = tail_mask(n - i);
    s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, km), _mm256_maskload_ps(b + i, km), s1);
  }
  return hsum256(_mm256_add_ps(s0, s1));
}

static inline __m256i lanes_from(size_t rem, size_t off) { /* lanes of [off, off+8) below rem */
  return rem <= off ? _mm256_setzero_si256() : rem - off >= 8 ? _mm256_set1_epi32(-1) : tail_mask(rem - off);
}

static void accum_rows(float *acc, const float *p, const float *v, size_t ldv, size_t nrows, size_t d) {
  for (size_t i0 = 0; i0 < d; i0 += 32) {
    const size_t r = d - i0;
    const __m256i m0 = lanes_from(r, 0), m1 = lanes_from(r, 8), m2 = lanes_from(r, 16), m3 = lanes_from(r, 24);
    float *ai = acc + i0;
    __m256 a0 = _mm256_maskload_ps(ai, m0), a1 = _mm256_maskload_ps(ai + 8, m1);
    __m256 a2 = _mm256_maskload_ps(ai + 16, m2), a3 = _mm256_maskload_ps(ai + 24, m3);
    for (size_t j = 0; j < nrows; j++) {
      const float *v0 = v + j * ldv + i0;
      const __m256 p0 = _mm256_set1_ps(p[j]);
      a0 = _mm256_fmadd_ps(p0, _mm256_maskload_ps(v0, m0), a0);
      a1 = _mm256_fmadd_ps(p0, _mm256_maskload_ps(v0 + 8, m1), a1);
      a2 = _mm256_fmadd_ps(p0, _mm256_maskload_ps(v0 + 16, m2), a2);
      a3 = _mm256_fmadd_ps(p0, _mm256_maskload_ps(v0 + 24, m3), a3);
    }
    _mm256_maskstore_ps(ai, m0, a0);
    _mm256_maskstore_ps(ai + 8, m1, a1);
    _mm256_maskstore_ps(ai + 16, m2, a2);
    _mm256_maskstore_ps(ai + 24, m3, a3);
  }
}

/* ---- exp (Cephes-style, ~1-2 ulp; arguments clamped to [-87.3, 88.0]) ---- */

static inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.33654f), _mm256_min_ps(_mm256_set1_ps(88.02f), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static float exp_shift_sum(float *s, size_t n, float max) {
  const __m256 mv = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + i), mv));
    _mm256_storeu_ps(s + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = hsum256(acc);
  for (; i < n; i++) {
    s[i] = expf(s[i] - max);
    sum += s[i];
  }
  return sum;
}

static void swiglu(float *out, const float *gate, const float *up, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  gen_swiglu(out + i, gate + i, up + i, n - i);
}

const lt_ops lt_ops_avx2 = {
  .name = "avx2",
  .mr = MR, .nr = NR, .mc = 120, .kc = 256, .nc = 1024,
  .pack_a = pack_a,
  .pack_b = pack_b,
  .ukernel = ukernel,
  .dot_tile = dot_tile,
  .accum_rows = accum_rows,
  .dot = dot,
  .axpy = gen_axpy,
  .scale = gen_scale,
  .exp_shift_sum = exp_shift_sum,
  .rmsnorm_row = gen_rmsnorm_row,
  .swiglu = swiglu,
  .add = gen_add,
};
#endif
