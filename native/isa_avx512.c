/*
 * AVX-512 (F, VL, BW, DQ) + FMA path. Compiled with those flags (binding.gyp); only called after
 * a run-time CPU check (addon.c).
 */
#include "lt.h"

#ifdef LT_X86_64
#include <immintrin.h>
#include "isa_generic.h"

#define MR 12
#define NR 32

/* ---- gemm micro-kernel: 12 x 32 tile, 24 zmm accumulators ---- */

#define ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define UK_DECL(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
#define UK_STEP(r)                                      \
  {                                                     \
    const __m512 av = _mm512_set1_ps(ap[r]);            \
    c##r##a = _mm512_fmadd_ps(av, b0, c##r##a);         \
    c##r##b = _mm512_fmadd_ps(av, b1, c##r##b);         \
  }
#define UK_STORE_FULL(r)                                                     \
  {                                                                          \
    float *cr = c + (r) * ldc;                                               \
    if (accumulate) {                                                        \
      c##r##a = _mm512_add_ps(c##r##a, _mm512_loadu_ps(cr));                 \
      c##r##b = _mm512_add_ps(c##r##b, _mm512_loadu_ps(cr + 16));            \
    }                                                                        \
    _mm512_storeu_ps(cr, c##r##a);                                           \
    _mm512_storeu_ps(cr + 16, c##r##b);                                      \
  }
#define UK_STORE_MASK(r)                                                     \
  if ((r) < mr_eff) {                                                        \
    float *cr = c + (r) * ldc;                                               \
    if (accumulate) {                                                        \
      c##r##a = _mm512_add_ps(c##r##a, _mm512_maskz_loadu_ps(m0, cr));       \
      c##r##b = _mm512_add_ps(c##r##b, _mm512_maskz_loadu_ps(m1, cr + 16));  \
    }                                                                        \
    _mm512_mask_storeu_ps(cr, m0, c##r##a);                                  \
    _mm512_mask_storeu_ps(cr + 16, m1, c##r##b);                             \
  }

static void ukernel(size_t kc, const float *ap, const float *bp, float *c, size_t ldc, int accumulate,
                    size_t mr_eff, size_t nr_eff) {
  ROWS12(UK_DECL)
  for (size_t p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_loadu_ps(bp);
    const __m512 b1 = _mm512_loadu_ps(bp + 16);
    ROWS12(UK_STEP)
    ap += MR;
    bp += NR;
  }
  if (mr_eff == MR && nr_eff == NR) {
    ROWS12(UK_STORE_FULL)
  } else {
    const __mmask16 m0 = nr_eff >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr_eff) - 1);
    const __mmask16 m1 = nr_eff >= 32 ? (__mmask16)0xffff
                         : nr_eff > 16 ? (__mmask16)((1u << (nr_eff - 16)) - 1)
                                       : (__mmask16)0;
    ROWS12(UK_STORE_MASK)
  }
}

/* ---- packing ---- */

static void pack_a(float *dst, const float *src, size_t ld, size_t rows, size_t kc) {
  gen_pack(dst, src, ld, rows, kc, MR);
}

/* 16x16 transpose of r[0..15] in registers. */
static inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  /* r[4g + q] now holds, per 128-bit lane L, column 4L + q' of rows 4g..4g+3 (q' = order below) */
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);      /* lanes 0,2 of r[i], 0,2 of r[i+4] */
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);  /* lanes 1,3 */
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

/*
 * Packs `rows` rows of w into NR-row panels, dst[p*NR + j] = w[j][p], with 16x16 register
 * transposes (rows past the end read as zero).
 */
static void pack_b(float *dst, const float *src, size_t ld, size_t rows, size_t kc) {
  for (size_t j0 = 0; j0 < rows; j0 += NR) {
    for (size_t h = 0; h < NR; h += 16) {
      const size_t jb = j0 + h;
      const size_t nvalid = jb >= rows ? 0 : (rows - jb < 16 ? rows - jb : 16);
      for (size_t p0 = 0; p0 < kc; p0 += 16) {
        const size_t np = kc - p0 < 16 ? kc - p0 : 16;
        const __mmask16 km = np == 16 ? (__mmask16)0xffff : (__mmask16)((1u << np) - 1);
        __m512 r[16];
        for (size_t i = 0; i < 16; i++)
          r[i] = i < nvalid ? _mm512_maskz_loadu_ps(km, src + (jb + i) * ld + p0) : _mm512_setzero_ps();
        transpose16(r);
        if (np == 16) {
          for (int q = 0; q < 16; q++) _mm512_storeu_ps(dst + (p0 + q) * NR + h, r[q]);
        } else {
          for (size_t q = 0; q < np; q++) _mm512_storeu_ps(dst + (p0 + q) * NR + h, r[q]);
        }
      }
    }
    dst += NR * kc;
  }
}

/* ---- dot-product tiles (small m, matrix-vector) ---- */

/* The four horizontal sums of a, b, c, d, as one vector (a tree: cheaper than four reductions). */
static inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  /* lanes 0-1: a's halves summed, lanes 2-3: b's */
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xee));
  /* 128-bit lane L: four partial sums of a, b, c, d (L = 0..3) */
  const __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd));
  const __m512 y = _mm512_add_ps(x, _mm512_shuffle_ps(x, x, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m512 z = _mm512_add_ps(y, _mm512_shuffle_ps(y, y, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, z));
}

static inline __attribute__((always_inline)) void dot_tile_fixed(float *out, size_t ldo, const float *a,
                                                                  size_t lda, const float *w, size_t ldw,
                                                                  size_t k, const int mrows, const int nrows) {
  __m512 acc[4][8];
  for (int i = 0; i < mrows; i++)
    for (int j = 0; j < nrows; j++) acc[i][j] = _mm512_setzero_ps();
  size_t p = 0;
  for (; p + 16 <= k; p += 16) {
    __m512 av[4];
    for (int i = 0; i < mrows; i++) av[i] = _mm512_loadu_ps(a + i * lda + p);
    for (int j = 0; j < nrows; j++) {
      const __m512 wv = _mm512_loadu_ps(w + j * ldw + p);
      for (int i = 0; i < mrows; i++) acc[i][j] = _mm512_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  if (p < k) {
    const __mmask16 km = (__mmask16)((1u << (k - p)) - 1);
    __m512 av[4];
    for (int i = 0; i < mrows; i++) av[i] = _mm512_maskz_loadu_ps(km, a + i * lda + p);
    for (int j = 0; j < nrows; j++) {
      const __m512 wv = _mm512_maskz_loadu_ps(km, w + j * ldw + p);
      for (int i = 0; i < mrows; i++) acc[i][j] = _mm512_fmadd_ps(av[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < mrows; i++) {
    int j = 0;
    for (; j + 4 <= nrows; j += 4)
      _mm_storeu_ps(out + i * ldo + j, hsum4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]));
    for (; j < nrows; j++) out[i * ldo + j] = _mm512_reduce_add_ps(acc[i][j]);
  }
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
DOT_TILE_M(3, 4)
DOT_TILE_M(4, 4)

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
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < n; i += 16) {
    const size_t r = n - i;
    const __mmask16 km = r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(km, a + i), _mm512_maskz_loadu_ps(km, b + i), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static inline __mmask16 lanes_from(size_t rem) { /* the first min(rem, 16) lanes */
  return rem >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rem) - 1);
}

static void accum_rows(float *acc, const float *p, const float *v, size_t ldv, size_t nrows, size_t d) {
  for (size_t i0 = 0; i0 < d; i0 += 64) {
    const size_t r = d - i0;
    const __mmask16 m0 = lanes_from(r), m1 = r > 16 ? lanes_from(r - 16) : 0, m2 = r > 32 ? lanes_from(r - 32) : 0,
                    m3 = r > 48 ? lanes_from(r - 48) : 0;
    float *ai = acc + i0;
    __m512 a0 = _mm512_maskz_loadu_ps(m0, ai), a1 = _mm512_maskz_loadu_ps(m1, ai + 16);
    __m512 a2 = _mm512_maskz_loadu_ps(m2, ai + 32), a3 = _mm512_maskz_loadu_ps(m3, ai + 48);
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps(), b2 = _mm512_setzero_ps(), b3 = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 2 <= nrows; j += 2) {
      const float *v0 = v + j * ldv + i0, *v1 = v0 + ldv;
      const __m512 p0 = _mm512_set1_ps(p[j]), p1 = _mm512_set1_ps(p[j + 1]);
      a0 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m0, v0), a0);
      a1 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m1, v0 + 16), a1);
      a2 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m2, v0 + 32), a2);
      a3 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m3, v0 + 48), a3);
      b0 = _mm512_fmadd_ps(p1, _mm512_maskz_loadu_ps(m0, v1), b0);
      b1 = _mm512_fmadd_ps(p1, _mm512_maskz_loadu_ps(m1, v1 + 16), b1);
      b2 = _mm512_fmadd_ps(p1, _mm512_maskz_loadu_ps(m2, v1 + 32), b2);
      b3 = _mm512_fmadd_ps(p1, _mm512_maskz_loadu_ps(m3, v1 + 48), b3);
    }
    if (j < nrows) {
      const float *v0 = v + j * ldv + i0;
      const __m512 p0 = _mm512_set1_ps(p[j]);
      a0 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m0, v0), a0);
      a1 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m1, v0 + 16), a1);
      a2 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m2, v0 + 32), a2);
      a3 = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(m3, v0 + 48), a3);
    }
    _mm512_mask_storeu_ps(ai, m0, _mm512_add_ps(a0, b0));
    _mm512_mask_storeu_ps(ai + 16, m1, _mm512_add_ps(a1, b1));
    _mm512_mask_storeu_ps(ai + 32, m2, _mm512_add_ps(a2, b2));
    _mm512_mask_storeu_ps(ai + 48, m3, _mm512_add_ps(a3, b3));
  }
}

/* ---- exp (Cephes-style reduction and polynomial, ~1-2 ulp) ---- */

static inline __m512 exp512(__m512 x) {
  /* min/max with x second keep NaN as NaN */
  x = _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(y, n);
}

static float exp_shift_sum(float *s, size_t n, float max) {
  const __m512 mv = _mm512_set1_ps(max);
  __m512 acc = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    const size_t r = n - i;
    const __mmask16 km = r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(km, s + i), mv));
    _mm512_mask_storeu_ps(s + i, km, e);
    acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(km, e));
  }
  return _mm512_reduce_add_ps(acc);
}

static void swiglu(float *out, const float *gate, const float *up, size_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (size_t i = 0; i < n; i += 16) {
    const size_t r = n - i;
    const __mmask16 km = r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1);
    const __m512 g = _mm512_maskz_loadu_ps(km, gate + i);
    const __m512 u = _mm512_maskz_loadu_ps(km, up + i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 o = _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), u);
    _mm512_mask_storeu_ps(out + i, km, o);
  }
}

const lt_ops lt_ops_avx512 = {
  .name = "avx512",
  .mr = MR, .nr = NR, .mc = 144, .kc = 256, .nc = 1024,
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
