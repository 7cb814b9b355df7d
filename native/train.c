/*
 * Training kernels: the products of a linear layer's backward without transposed copies, the
 * tiled (flash) causal attention forward/backward, fused softmax + cross-entropy, RMSNorm with
 * statistics and its backward, SwiGLU backward, and the optimiser's AdamW pass and sum of
 * squares. Each mirrors a TypeScript reference (src/kernels/ops/<op>.ts) and is tested against
 * it by the conformance suite (test/kernels/conformance.ts, run by native.test.ts).
 *
 * ISA-neutral like kernels.c: the hot loops go through the run-time chosen `lt_ops` table.
 */
#include "lt.h"
#include "par.h"
#include "train.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- matmul variants: the shared packed gemm (kernels.c) reading either layout directly ---- */

int lt_matmul_nn(float *out, const float *a, const float *b, size_t m, size_t n, size_t k, int accumulate) {
  return lt_gemm(out, a, k, 0, b, n, 1, m, n, k, accumulate);
}

int lt_matmul_tn(float *out, const float *a, const float *b, size_t m, size_t n, size_t k, int accumulate) {
  return lt_gemm(out, a, m, 1, b, n, 1, m, n, k, accumulate);
}

/* ---- tiled causal attention for training ---- */

#define TA_BQ 64
#define TA_BK 64

typedef struct {
  float *out, *lse, *dq, *dk, *dv;
  const float *q, *k, *v, *dout, *o_fwd, *lse_in;
  size_t B, T, nH, nKv, hd, nqb;
  int accumulate;
  float scale;
  _Atomic int oom;
} tattn_t;

/* A task: one (sequence, head, query block); the last query blocks (most keys) go first. */
static void taf_range(void *ctx, size_t b, size_t e) {
  tattn_t *A = ctx;
  const lt_ops *o = lt_get_ops();
  const size_t hd = A->hd, T = A->T, nH = A->nH;
  const size_t qStride = nH * hd, kvStride = A->nKv * hd;
  const size_t group = nH / A->nKv;
  float *buf = lt_scratch(0, TA_BQ * TA_BK + TA_BQ * hd + 2 * TA_BQ);
  if (!buf) {
    atomic_store(&A->oom, 1);
    return;
  }
  float *S = buf, *acc = S + TA_BQ * TA_BK, *M = acc + TA_BQ * hd, *L = M + TA_BQ;
  for (size_t task = b; task < e; task++) {
    const size_t qb = A->nqb - 1 - task % A->nqb, bh = task / A->nqb;
    const size_t bi = bh / nH, h = bh % nH, kvh = h / group;
    const float *qb0 = A->q + bi * T * qStride + h * hd;
    const float *kb0 = A->k + bi * T * kvStride + kvh * hd;
    const float *vb0 = A->v + bi * T * kvStride + kvh * hd;
    const size_t i0 = qb * TA_BQ, i1 = zmin(T, i0 + TA_BQ), nr = i1 - i0;
    for (size_t r = 0; r < nr; r++) {
      M[r] = -INFINITY;
      L[r] = 0.0f;
    }
    memset(acc, 0, nr * hd * sizeof(float));
    for (size_t j0 = 0; j0 < i1; j0 += TA_BK) {
      const size_t j1 = zmin(j0 + TA_BK, i1), nc = j1 - j0;
      for (size_t r0 = 0; r0 < nr; r0 += 4)
        o->dot_tile(S + r0 * TA_BK, TA_BK, qb0 + (i0 + r0) * qStride, qStride, zmin(4, nr - r0), kb0 + j0 * kvStride,
                    kvStride, nc, hd);
      for (size_t r = 0; r < nr; r++) {
        const size_t i = i0 + r;
        const size_t jEnd = zmin(j1, i + 1);
        if (jEnd <= j0) continue;
        const size_t cnt = jEnd - j0;
        float *s = S + r * TA_BK;
        float mx = -INFINITY;
        for (size_t c = 0; c < cnt; c++) {
          s[c] *= A->scale;
          if (s[c] > mx) mx = s[c];
        }
        const float mOld = M[r];
        const float mNew = mOld > mx ? mOld : mx;
        float *ar = acc + r * hd;
        float corr = 0.0f;
        if (mOld != -INFINITY) {
          corr = expf(mOld - mNew);
          if (corr != 1.0f) o->scale(ar, corr, hd);
        }
        const float sum = o->exp_shift_sum(s, cnt, mNew);
        o->accum_rows(ar, s, vb0 + j0 * kvStride, kvStride, cnt, hd);
        L[r] = L[r] * corr + sum;
        M[r] = mNew;
      }
    }
    for (size_t r = 0; r < nr; r++) {
      const size_t i = i0 + r;
      float *orow = A->out + (bi * T + i) * qStride + h * hd;
      const float inv = 1.0f / L[r];
      const float *ar = acc + r * hd;
      for (size_t d = 0; d < hd; d++) orow[d] = ar[d] * inv;
      A->lse[(bi * T + i) * nH + h] = (float)((double)M[r] + log((double)L[r]));
    }
  }
}

int lt_attention_train_forward(float *out, float *lse, const float *q, const float *k, const float *v, size_t B,
                               size_t T, size_t nH, size_t nKv, size_t hd) {
  if (B == 0 || T == 0 || nH == 0 || hd == 0) return 0;
  tattn_t A;
  memset(&A, 0, sizeof A);
  A.out = out;
  A.lse = lse;
  A.q = q;
  A.k = k;
  A.v = v;
  A.B = B;
  A.T = T;
  A.nH = nH;
  A.nKv = nKv;
  A.hd = hd;
  A.nqb = cdiv(T, TA_BQ);
  A.scale = (float)(1.0 / sqrt((double)hd));
  atomic_init(&A.oom, 0);
  const size_t macs = B * nH * (T * (T + 1) / 2) * hd * 2;
  parallel_for(B * nH * A.nqb, 1, threads_for(macs, PAR_MIN_MACS), taf_range, &A);
  return atomic_load(&A.oom) ? -1 : 0;
}

/* dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols */
static void transpose_tile(float *dst, size_t ldd, const float *src, size_t lds, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
}

/* A task: one (sequence, kv head); it owns dq of the group's query heads and dk, dv of the kv head. */
static void tab_range(void *ctx, size_t b, size_t e) {
  tattn_t *A = ctx;
  const lt_ops *o = lt_get_ops();
  const size_t hd = A->hd, T = A->T, nH = A->nH, nKv = A->nKv;
  const size_t qStride = nH * hd, kvStride = nKv * hd;
  const size_t group = nH / nKv;
  const size_t tile = TA_BQ * TA_BK;
  float *buf = lt_scratch(0, 4 * tile + 2 * TA_BK * hd + TA_BQ);
  if (!buf) {
    atomic_store(&A->oom, 1);
    return;
  }
  float *S = buf, *dP = S + tile, *Pt = dP + tile, *dSt = Pt + tile;
  float *dK = dSt + tile, *dV = dK + TA_BK * hd, *delta = dV + TA_BK * hd;
  for (size_t task = b; task < e; task++) {
    const size_t bi = task / nKv, g = task % nKv;
    const float *kb0 = A->k + bi * T * kvStride + g * hd;
    const float *vb0 = A->v + bi * T * kvStride + g * hd;
    if (!A->accumulate)
      for (size_t i = 0; i < T; i++) memset(A->dq + (bi * T + i) * qStride + g * group * hd, 0, group * hd * sizeof(float));
    for (size_t j0 = 0; j0 < T; j0 += TA_BK) {
      const size_t j1 = zmin(j0 + TA_BK, T), nc = j1 - j0;
      memset(dK, 0, nc * hd * sizeof(float));
      memset(dV, 0, nc * hd * sizeof(float));
      for (size_t h = g * group; h < (g + 1) * group; h++) {
        const size_t hoff = bi * T * qStride + h * hd;
        const float *qb0 = A->q + hoff, *dob0 = A->dout + hoff, *ob0 = A->o_fwd + hoff;
        float *dqb0 = A->dq + hoff;
        for (size_t i0 = (j0 / TA_BQ) * TA_BQ; i0 < T; i0 += TA_BQ) {
          const size_t i1 = zmin(T, i0 + TA_BQ), nr = i1 - i0;
          for (size_t r0 = 0; r0 < nr; r0 += 4) {
            const size_t mr = zmin(4, nr - r0);
            o->dot_tile(S + r0 * TA_BK, TA_BK, qb0 + (i0 + r0) * qStride, qStride, mr, kb0 + j0 * kvStride, kvStride,
                        nc, hd);
            o->dot_tile(dP + r0 * TA_BK, TA_BK, dob0 + (i0 + r0) * qStride, qStride, mr, vb0 + j0 * kvStride,
                        kvStride, nc, hd);
          }
          for (size_t r = 0; r < nr; r++) {
            const size_t i = i0 + r;
            delta[r] = o->dot(dob0 + i * qStride, ob0 + i * qStride, hd);
          }
          for (size_t r = 0; r < nr; r++) {
            const size_t i = i0 + r;
            const size_t jEnd = zmin(j1, i + 1);
            const size_t cnt = jEnd > j0 ? jEnd - j0 : 0;
            float *p = S + r * TA_BK, *ds = dP + r * TA_BK;
            if (cnt > 0) {
              for (size_t c = 0; c < cnt; c++) p[c] *= A->scale;
              o->exp_shift_sum(p, cnt, A->lse_in[(bi * T + i) * nH + h]);
              const float dl = delta[r];
              for (size_t c = 0; c < cnt; c++) ds[c] = p[c] * (ds[c] - dl) * A->scale;
              o->accum_rows(dqb0 + i * qStride, ds, kb0 + j0 * kvStride, kvStride, cnt, hd);
            }
            for (size_t c = cnt; c < nc; c++) {
              p[c] = 0.0f;
              ds[c] = 0.0f;
            }
          }
          transpose_tile(Pt, TA_BQ, S, TA_BK, nr, nc);
          transpose_tile(dSt, TA_BQ, dP, TA_BK, nr, nc);
          for (size_t c = 0; c < nc; c++) {
            /* rows i < j0 + c contribute zeros; start at the first that can contribute */
            const size_t jj = j0 + c;
            const size_t r0 = jj > i0 ? jj - i0 : 0;
            if (r0 >= nr) continue;
            o->accum_rows(dV + c * hd, Pt + c * TA_BQ + r0, dob0 + (i0 + r0) * qStride, qStride, nr - r0, hd);
            o->accum_rows(dK + c * hd, dSt + c * TA_BQ + r0, qb0 + (i0 + r0) * qStride, qStride, nr - r0, hd);
          }
        }
      }
      for (size_t c = 0; c < nc; c++) {
        const size_t off = (bi * T + j0 + c) * kvStride + g * hd;
        float *dkr = A->dk + off, *dvr = A->dv + off;
        const float *tk = dK + c * hd, *tv = dV + c * hd;
        if (A->accumulate) {
          for (size_t d = 0; d < hd; d++) {
            dkr[d] += tk[d];
            dvr[d] += tv[d];
          }
        } else {
          memcpy(dkr, tk, hd * sizeof(float));
          memcpy(dvr, tv, hd * sizeof(float));
        }
      }
    }
  }
}

int lt_attention_train_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                const float *v, const float *out, const float *lse, size_t B, size_t T, size_t nH,
                                size_t nKv, size_t hd, int accumulate) {
  if (B == 0 || T == 0 || nH == 0 || hd == 0) return 0;
  tattn_t A;
  memset(&A, 0, sizeof A);
  A.dq = dq;
  A.dk = dk;
  A.dv = dv;
  A.dout = dout;
  A.q = q;
  A.k = k;
  A.v = v;
  A.o_fwd = out;
  A.lse_in = lse;
  A.B = B;
  A.T = T;
  A.nH = nH;
  A.nKv = nKv;
  A.hd = hd;
  A.accumulate = accumulate;
  A.scale = (float)(1.0 / sqrt((double)hd));
  atomic_init(&A.oom, 0);
  const size_t macs = B * nH * (T * (T + 1) / 2) * hd * 5;
  parallel_for(B * nKv, 1, threads_for(macs, PAR_MIN_MACS), tab_range, &A);
  return atomic_load(&A.oom) ? -1 : 0;
}

/* ---- fused softmax + cross-entropy ---- */

typedef struct {
  float *logits;
  const int32_t *targets;
  size_t vocab;
  double inv_count;
  double *row_loss;
} ce_t;

#define CE_CHUNK 1024

static void ce_range(void *v, size_t b, size_t e) {
  const ce_t *C = v;
  const lt_ops *o = lt_get_ops();
  const size_t V = C->vocab;
  for (size_t r = b; r < e; r++) {
    float *z = C->logits + r * V;
    const int32_t y = C->targets[r];
    if (y < 0) {
      memset(z, 0, V * sizeof(float));
      C->row_loss[r] = 0.0;
      continue;
    }
    float m0 = -INFINITY, m1 = -INFINITY, m2 = -INFINITY, m3 = -INFINITY;
    size_t i = 0;
    for (; i + 4 <= V; i += 4) {
      m0 = z[i] > m0 ? z[i] : m0;
      m1 = z[i + 1] > m1 ? z[i + 1] : m1;
      m2 = z[i + 2] > m2 ? z[i + 2] : m2;
      m3 = z[i + 3] > m3 ? z[i + 3] : m3;
    }
    for (; i < V; i++) m0 = z[i] > m0 ? z[i] : m0;
    m0 = m0 > m1 ? m0 : m1;
    m2 = m2 > m3 ? m2 : m3;
    const float mx = m0 > m2 ? m0 : m2;
    const double zy = z[y];
    double sum = 0.0;
    for (size_t c0 = 0; c0 < V; c0 += CE_CHUNK) sum += o->exp_shift_sum(z + c0, zmin(CE_CHUNK, V - c0), mx);
    const double lse = (double)mx + log(sum);
    C->row_loss[r] = lse - zy;
    o->scale(z, (float)(C->inv_count / sum), V);
    z[y] = (float)((double)z[y] - C->inv_count);
  }
}

int lt_cross_entropy(float *logits, const int32_t *targets, size_t rows, size_t vocab, double total_count,
                     double *loss) {
  *loss = 0.0;
  if (rows == 0) return 0;
  double *row_loss = malloc(rows * sizeof(double));
  if (!row_loss) return -1;
  ce_t C = {.logits = logits, .targets = targets, .vocab = vocab, .inv_count = 1.0 / total_count, .row_loss = row_loss};
  const int threads = threads_for(rows * vocab, PAR_MIN_ELEMS);
  parallel_for(rows, zmax(1, cdiv(rows, (size_t)threads * 8)), threads, ce_range, &C);
  double total = 0.0;
  for (size_t r = 0; r < rows; r++) total += row_loss[r];
  free(row_loss);
  *loss = total * C.inv_count;
  return 0;
}

/* ---- RMSNorm with statistics, apply, backward ---- */

typedef struct {
  float *out, *inv, *dx, *dw;
  const float *x, *w, *inv_in, *dout;
  size_t rows, dim;
  double eps;
  int accumulate;
} rmst_t;

static void rms_stats_range(void *v, size_t b, size_t e) {
  const rmst_t *R = v;
  const size_t D = R->dim;
  for (size_t r = b; r < e; r++) {
    const float *x = R->x + r * D;
    float *out = R->out + r * D;
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 4 <= D; i += 4) {
      a0 += (double)x[i] * x[i];
      a1 += (double)x[i + 1] * x[i + 1];
      a2 += (double)x[i + 2] * x[i + 2];
      a3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < D; i++) a0 += (double)x[i] * x[i];
    const double inv = 1.0 / sqrt(((a0 + a1) + (a2 + a3)) / (double)D + R->eps);
    R->inv[r] = (float)inv;
    for (i = 0; i < D; i++) out[i] = (float)((double)x[i] * inv * (double)R->w[i]);
  }
}

static void rms_apply_range(void *v, size_t b, size_t e) {
  const rmst_t *R = v;
  const size_t D = R->dim;
  for (size_t r = b; r < e; r++) {
    const float *x = R->x + r * D;
    float *out = R->out + r * D;
    const double inv = R->inv_in[r];
    for (size_t i = 0; i < D; i++) out[i] = (float)((double)x[i] * inv * (double)R->w[i]);
  }
}

/* dWeight over a range of columns (every row), so threads never share an output. */
static void rms_bwd_w_range(void *v, size_t b, size_t e) {
  const rmst_t *R = v;
  const size_t D = R->dim;
  for (size_t i = b; i < e; i++) {
    double s = 0;
    for (size_t r = 0; r < R->rows; r++) s += (double)R->dout[r * D + i] * (double)R->x[r * D + i] * (double)R->inv_in[r];
    R->dw[i] = (float)((double)R->dw[i] + s);
  }
}

static void rms_bwd_x_range(void *v, size_t b, size_t e) {
  const rmst_t *R = v;
  const size_t D = R->dim;
  for (size_t r = b; r < e; r++) {
    const float *g = R->dout + r * D, *x = R->x + r * D;
    float *dx = R->dx + r * D;
    const double rho = R->inv_in[r];
    double dot = 0;
    for (size_t i = 0; i < D; i++) dot += (double)g[i] * (double)R->w[i] * (double)x[i];
    const double c = rho * rho * rho * dot / (double)D;
    if (R->accumulate)
      for (size_t i = 0; i < D; i++) dx[i] = (float)((double)dx[i] + (rho * (double)R->w[i] * (double)g[i] - c * (double)x[i]));
    else
      for (size_t i = 0; i < D; i++) dx[i] = (float)(rho * (double)R->w[i] * (double)g[i] - c * (double)x[i]);
  }
}

void lt_rmsnorm_stats(float *out, float *inv, const float *x, const float *w, size_t rows, size_t dim, double eps) {
  rmst_t R = {.out = out, .inv = inv, .x = x, .w = w, .rows = rows, .dim = dim, .eps = eps};
  const int threads = threads_for(rows * dim, PAR_MIN_ELEMS);
  parallel_for(rows, zmax(1, cdiv(rows, (size_t)threads * 4)), threads, rms_stats_range, &R);
}

void lt_rmsnorm_apply(float *out, const float *x, const float *w, const float *inv, size_t rows, size_t dim) {
  rmst_t R = {.out = out, .x = x, .w = w, .inv_in = inv, .rows = rows, .dim = dim};
  const int threads = threads_for(rows * dim, PAR_MIN_ELEMS);
  parallel_for(rows, zmax(1, cdiv(rows, (size_t)threads * 4)), threads, rms_apply_range, &R);
}

void lt_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *inv,
                         size_t rows, size_t dim, int accumulate) {
  rmst_t R = {.dx = dx, .dw = dw, .dout = dout, .x = x, .w = w, .inv_in = inv, .rows = rows, .dim = dim,
              .accumulate = accumulate};
  const int threads = threads_for(rows * dim, PAR_MIN_ELEMS);
  /* dWeight first: dx may alias dout (when not accumulating) */
  if (dw) parallel_for(dim, zmax(16, cdiv(dim, (size_t)threads * 4)), threads, rms_bwd_w_range, &R);
  parallel_for(rows, zmax(1, cdiv(rows, (size_t)threads * 4)), threads, rms_bwd_x_range, &R);
}

/* ---- SwiGLU backward ---- */

typedef struct {
  float *dgate, *dup;
  const float *dout, *gate, *up;
} swb_t;

static void swb_range(void *v, size_t b, size_t e) {
  const swb_t *W = v;
  for (size_t i = b; i < e; i++) {
    const float g = W->gate[i], u = W->up[i], d = W->dout[i];
    const float sig = 1.0f / (1.0f + expf(-g));
    W->dup[i] = d * g * sig;
    W->dgate[i] = d * u * sig * (1.0f + g * (1.0f - sig));
  }
}

void lt_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n) {
  swb_t W = {.dgate = dgate, .dup = dup, .dout = dout, .gate = gate, .up = up};
  const int threads = threads_for(n * 8, PAR_MIN_ELEMS);
  parallel_for(n, zmax(4096, cdiv(n, (size_t)threads * 4)), threads, swb_range, &W);
}

/* ---- AdamW and sum of squares ---- */

typedef struct {
  float *p, *m, *v;
  const float *g;
  double decay, gscale, b1, b2, eps, step_size, bc2_sqrt;
} adamw_t;

static void adamw_range(void *vv, size_t b, size_t e) {
  const adamw_t *A = vv;
  const double c1 = 1.0 - A->b1, c2 = 1.0 - A->b2;
  for (size_t i = b; i < e; i++) {
    const double g = (double)A->g[i] * A->gscale;
    const double mi = A->b1 * (double)A->m[i] + c1 * g;
    const double vi = A->b2 * (double)A->v[i] + c2 * g * g;
    A->m[i] = (float)mi;
    A->v[i] = (float)vi;
    A->p[i] = (float)((double)A->p[i] * A->decay - A->step_size * (mi / (sqrt(vi) / A->bc2_sqrt + A->eps)));
  }
}

void lt_adamw(float *p, const float *g, float *m, float *v, size_t n, double decay, double gscale, double b1,
              double b2, double eps, double step_size, double bc2_sqrt) {
  adamw_t A = {.p = p, .m = m, .v = v, .g = g, .decay = decay, .gscale = gscale, .b1 = b1, .b2 = b2, .eps = eps,
               .step_size = step_size, .bc2_sqrt = bc2_sqrt};
  const int threads = threads_for(n * 4, PAR_MIN_ELEMS);
  parallel_for(n, zmax(16384, cdiv(n, (size_t)threads * 8)), threads, adamw_range, &A);
}

#define SS_CHUNK ((size_t)65536)

typedef struct {
  const float *x;
  size_t n;
  double *partial;
} ss_t;

static void ss_range(void *v, size_t b, size_t e) {
  const ss_t *S = v;
  for (size_t c = b; c < e; c++) {
    const size_t i0 = c * SS_CHUNK, i1 = zmin(S->n, i0 + SS_CHUNK);
    double a[8] = {0};
    size_t i = i0;
    for (; i + 8 <= i1; i += 8)
      for (size_t j = 0; j < 8; j++) a[j] += (double)S->x[i + j] * (double)S->x[i + j];
    for (; i < i1; i++) a[0] += (double)S->x[i] * (double)S->x[i];
    S->partial[c] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  }
}

int lt_sum_squares(const float *x, size_t n, double *result) {
  *result = 0.0;
  if (n == 0) return 0;
  const size_t chunks = cdiv(n, SS_CHUNK);
  double *partial = malloc(chunks * sizeof(double));
  if (!partial) return -1;
  ss_t S = {.x = x, .n = n, .partial = partial};
  const int threads = threads_for(n, PAR_MIN_ELEMS * 4);
  parallel_for(chunks, 1, threads, ss_range, &S);
  double s = 0;
  for (size_t c = 0; c < chunks; c++) s += partial[c];
  free(partial);
  *result = s;
  return 0;
}
