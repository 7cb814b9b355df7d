/*
 * WebAssembly SIMD128 path (wasm32, -msimd128): the lt_ops primitives on 4-lane f32 vectors.
 * Only built into the wasm module (scripts/build-wasm.mjs); kernels.c, train.c and quant.c
 * run on top of it unchanged. No fused multiply-add (relaxed-simd is not everywhere yet), so
 * products round twice, as the scalar path does without -ffp-contract.
 */
#include "lt.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>

#define GEN_MR 4
#define GEN_NR 8
#include "isa_generic.h"

#define MR 4
#define NR 8

static inline float hsum(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

static inline v128_t fma4(v128_t a, v128_t b, v128_t c) { return wasm_f32x4_add(c, wasm_f32x4_mul(a, b)); }

/* ---- gemm micro-kernel: 4 x 8 tile in 8 registers ---- */

static void ukernel(size_t kc, const float *ap, const float *bp, float *c, size_t ldc, int accumulate,
                    size_t mr_eff, size_t nr_eff) {
  v128_t c0a = wasm_f32x4_splat(0), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, c3a = c0a, c3b = c0a;
  for (size_t p = 0; p < kc; p++) {
    const v128_t b0 = wasm_v128_load(bp), b1 = wasm_v128_load(bp + 4);
    v128_t a = wasm_v128_load32_splat(ap + 0);
    c0a = fma4(a, b0, c0a);
    c0b = fma4(a, b1, c0b);
    a = wasm_v128_load32_splat(ap + 1);
    c1a = fma4(a, b0, c1a);
    c1b = fma4(a, b1, c1b);
    a = wasm_v128_load32_splat(ap + 2);
    c2a = fma4(a, b0, c2a);
    c2b = fma4(a, b1, c2b);
    a = wasm_v128_load32_splat(ap + 3);
    c3a = fma4(a, b0, c3a);
    c3b = fma4(a, b1, c3b);
    ap += MR;
    bp += NR;
  }
  const v128_t rows[MR][2] = {{c0a, c0b}, {c1a, c1b}, {c2a, c2b}, {c3a, c3b}};
  if (mr_eff == MR && nr_eff == NR) {
    for (size_t i = 0; i < MR; i++) {
      float *ci = c + i * ldc;
      v128_t x = rows[i][0], y = rows[i][1];
      if (accumulate) {
        x = wasm_f32x4_add(x, wasm_v128_load(ci));
        y = wasm_f32x4_add(y, wasm_v128_load(ci + 4));
      }
      wasm_v128_store(ci, x);
      wasm_v128_store(ci + 4, y);
    }
  } else {
    float t[MR * NR];
    for (size_t i = 0; i < MR; i++) {
      wasm_v128_store(t + i * NR, rows[i][0]);
      wasm_v128_store(t + i * NR + 4, rows[i][1]);
    }
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

/* ---- dot products ---- */

static float dot(const float *a, const float *b, size_t n) {
  v128_t s0 = wasm_f32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = fma4(wasm_v128_load(a + i), wasm_v128_load(b + i), s0);
    s1 = fma4(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4), s1);
    s2 = fma4(wasm_v128_load(a + i + 8), wasm_v128_load(b + i + 8), s2);
    s3 = fma4(wasm_v128_load(a + i + 12), wasm_v128_load(b + i + 12), s3);
  }
  for (; i + 4 <= n; i += 4) s0 = fma4(wasm_v128_load(a + i), wasm_v128_load(b + i), s0);
  float s = hsum(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

/* out[i*ldo + j] for i < M, j < N (compile-time tile): M rows of a share each row of w's loads. */
static inline __attribute__((always_inline)) void dot_tile_fixed(float *out, size_t ldo, const float *a, size_t lda,
                                                                  const float *w, size_t ldw, size_t k, const int M,
                                                                  const int N) {
  v128_t acc[4][4];
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) acc[i][j] = wasm_f32x4_splat(0);
  size_t p = 0;
  for (; p + 4 <= k; p += 4) {
    v128_t av[4];
    for (int i = 0; i < M; i++) av[i] = wasm_v128_load(a + i * lda + p);
    for (int j = 0; j < N; j++) {
      const v128_t wv = wasm_v128_load(w + j * ldw + p);
      for (int i = 0; i < M; i++) acc[i][j] = fma4(av[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = hsum(acc[i][j]);
      for (size_t q = p; q < k; q++) s += a[i * lda + q] * w[j * ldw + q];
      out[i * ldo + j] = s;
    }
}

#define DOT_TILE_M(M, G)                                                                                        \
  static void dot_tile_m##M(float *out, size_t ldo, const float *a, size_t lda, const float *w, size_t ldw,      \
                            size_t nrows, size_t k) {                                                           \
    size_t j = 0;                                                                                               \
    for (; j + (G) <= nrows; j += (G)) dot_tile_fixed(out + j, ldo, a, lda, w + j * ldw, ldw, k, M, G);         \
    for (; j < nrows; j++) dot_tile_fixed(out + j, ldo, a, lda, w + j * ldw, ldw, k, M, 1);                     \
  }
DOT_TILE_M(1, 4)
DOT_TILE_M(2, 4)
DOT_TILE_M(3, 2)
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

static void axpy(float *y, float a, const float *x, size_t n) {
  const v128_t av = wasm_f32x4_splat(a);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, fma4(av, wasm_v128_load(x + i), wasm_v128_load(y + i)));
  for (; i < n; i++) y[i] += a * x[i];
}

static void accum_rows(float *acc, const float *p, const float *v, size_t ldv, size_t nrows, size_t d) {
  for (size_t j = 0; j < nrows; j++) axpy(acc, p[j], v + j * ldv, d);
}

/*
 * e^x on 4 lanes (Cephes-style, ~1-2 ulp): x = n ln2 + r, e^r by a degree-6 polynomial,
 * 2^n put into the exponent bits; arguments clamped to [-87.3, 88.0].
 */
static inline v128_t exp4(v128_t x) {
  x = wasm_f32x4_pmax(wasm_f32x4_splat(-87.33654f), wasm_f32x4_pmin(wasm_f32x4_splat(88.02f), x));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t y = wasm_f32x4_splat(1.9875691500e-4f);
  y = fma4(y, r, wasm_f32x4_splat(1.3981999507e-3f));
  y = fma4(y, r, wasm_f32x4_splat(8.3334519073e-3f));
  y = fma4(y, r, wasm_f32x4_splat(4.1665795894e-2f));
  y = fma4(y, r, wasm_f32x4_splat(1.6666665459e-1f));
  y = fma4(y, r, wasm_f32x4_splat(5.0000001201e-1f));
  y = fma4(y, wasm_f32x4_mul(r, r), wasm_f32x4_add(r, wasm_f32x4_splat(1.0f)));
  const v128_t e = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(y, e);
}

static float exp_shift_sum(float *s, size_t n, float max) {
  const v128_t mv = wasm_f32x4_splat(max);
  v128_t acc = wasm_f32x4_splat(0);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t e = exp4(wasm_f32x4_sub(wasm_v128_load(s + i), mv));
    wasm_v128_store(s + i, e);
    acc = wasm_f32x4_add(acc, e);
  }
  float sum = hsum(acc);
  for (; i < n; i++) {
    s[i] = expf(s[i] - max);
    sum += s[i];
  }
  return sum;
}

static void swiglu(float *out, const float *gate, const float *up, size_t n) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t g = wasm_v128_load(gate + i);
    const v128_t e = exp4(wasm_f32x4_neg(g));
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_f32x4_div(g, wasm_f32x4_add(one, e)), wasm_v128_load(up + i)));
  }
  gen_swiglu(out + i, gate + i, up + i, n - i);
}

static void scale(float *y, float a, size_t n) {
  const v128_t av = wasm_f32x4_splat(a);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(wasm_v128_load(y + i), av));
  for (; i < n; i++) y[i] *= a;
}

static void add(float *x, const float *y, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_add(wasm_v128_load(x + i), wasm_v128_load(y + i)));
  for (; i < n; i++) x[i] += y[i];
}

const lt_ops lt_ops_wasm = {
  .name = "wasm-simd128",
  .mr = MR, .nr = NR, .mc = 64, .kc = 256, .nc = 1024,
  .pack_a = pack_a,
  .pack_b = pack_b,
  .ukernel = ukernel,
  .dot_tile = dot_tile,
  .accum_rows = accum_rows,
  .dot = dot,
  .axpy = axpy,
  .scale = scale,
  .exp_shift_sum = exp_shift_sum,
  .rmsnorm_row = gen_rmsnorm_row,
  .swiglu = swiglu,
  .add = add,
};
#endif
