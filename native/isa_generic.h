/*
 * Plain-C versions of the per-ISA primitives. Each isa_*.c includes this header, so the loops
 * here are compiled (and auto-vectorised) once per instruction set with that file's flags; a
 * file replaces the ones that matter with intrinsics. Everything here is `static`, so no copy
 * compiled for one ISA can be linked into another's caller.
 *
 * Before including, define GEN_MR and GEN_NR (the generic micro-tile) if gen_ukernel is used.
 */
#ifndef LLAMA_TS_ISA_GENERIC_H
#define LLAMA_TS_ISA_GENERIC_H

#include <math.h>
#include <string.h>
#include "lt.h"

#define GEN_LANES 16

static inline float gen_dot(const float *a, const float *b, size_t n) {
  float acc[GEN_LANES] = {0};
  size_t i = 0;
  for (; i + GEN_LANES <= n; i += GEN_LANES)
    for (size_t j = 0; j < GEN_LANES; j++) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; i++) s += a[i] * b[i];
  for (size_t j = 0; j < GEN_LANES; j++) s += acc[j];
  return s;
}

static inline void gen_axpy(float *y, float a, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

static inline void gen_scale(float *y, float a, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] *= a;
}

static inline void gen_add(float *x, const float *y, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static float gen_exp_shift_sum(float *s, size_t n, float max) {
  float sum = 0;
  for (size_t i = 0; i < n; i++) {
    s[i] = expf(s[i] - max);
    sum += s[i];
  }
  return sum;
}

static void gen_swiglu(float *out, const float *gate, const float *up, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

static void gen_rmsnorm_row(float *out, const float *x, const float *w, size_t dim, float eps) {
  /* sum of squares in double: dim can be large, and this is memory bound anyway */
  double acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (size_t j = 0; j < 8; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
  double ss = 0;
  for (; i < dim; i++) ss += (double)x[i] * (double)x[i];
  for (size_t j = 0; j < 8; j++) ss += acc[j];
  const float inv = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
  for (i = 0; i < dim; i++) out[i] = x[i] * inv * w[i];
}

static void gen_dot_tile(float *out, size_t ldo, const float *a, size_t lda, size_t mrows, const float *w,
                         size_t ldw, size_t nrows, size_t k) {
  for (size_t j = 0; j < nrows; j++)
    for (size_t i = 0; i < mrows; i++) out[i * ldo + j] = gen_dot(a + i * lda, w + j * ldw, k);
}

static void gen_accum_rows(float *acc, const float *p, const float *v, size_t ldv, size_t nrows, size_t d) {
  for (size_t j = 0; j < nrows; j++) gen_axpy(acc, p[j], v + j * ldv, d);
}

static inline void gen_pack(float *dst, const float *src, size_t ld, size_t rows, size_t kc, size_t r) {
  for (size_t i0 = 0; i0 < rows; i0 += r) {
    const size_t nr = rows - i0 < r ? rows - i0 : r;
    for (size_t i = 0; i < nr; i++) {
      const float *s = src + (i0 + i) * ld;
      for (size_t p = 0; p < kc; p++) dst[p * r + i] = s[p];
    }
    for (size_t i = nr; i < r; i++)
      for (size_t p = 0; p < kc; p++) dst[p * r + i] = 0.0f;
    dst += r * kc;
  }
}

#if defined(GEN_MR) && defined(GEN_NR)
static void gen_ukernel(size_t kc, const float *ap, const float *bp, float *c, size_t ldc, int accumulate,
                        size_t mr_eff, size_t nr_eff) {
  float t[GEN_MR][GEN_NR];
  memset(t, 0, sizeof t);
  for (size_t p = 0; p < kc; p++) {
    const float *a = ap + p * GEN_MR;
    const float *b = bp + p * GEN_NR;
    for (size_t i = 0; i < GEN_MR; i++)
      for (size_t j = 0; j < GEN_NR; j++) t[i][j] += a[i] * b[j];
  }
  for (size_t i = 0; i < mr_eff; i++) {
    float *ci = c + i * ldc;
    if (accumulate)
      for (size_t j = 0; j < nr_eff; j++) ci[j] += t[i][j];
    else
      for (size_t j = 0; j < nr_eff; j++) ci[j] = t[i][j];
  }
}
#endif

#endif
