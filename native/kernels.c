/*
 * The public kernels: blocking, packing and threading around the chosen ISA's primitives.
 * Everything here is ISA-neutral C; the hot loops live behind the `lt_ops` table.
 */
#include "lt.h"
#include "par.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const lt_ops *OPS = &lt_ops_scalar;

void lt_set_ops(const lt_ops *ops) { OPS = ops; }
const lt_ops *lt_get_ops(void) { return OPS; }

/*
 * matmul with fewer rows than this uses dot-product tiles (no packing) instead of packed
 * panels. Measured at n=2048, k=768: dot tiles ~57 GFLOP/s at any m; packed 35 (m=8), 51 (16),
 * 79 (24), 109 (64): packing w costs as much as the product itself when m is small.
 */
#define SMALL_M 20

/* ---- matvec and small-m matmul: dot-product tiles over row chunks of w ---- */

typedef struct {
  float *out;
  const float *a, *w;
  size_t m, n, k;
} dots_t;

uintptr_t lt_page_ahead(void) {
  static int on = -1;
#ifdef LT_X86_64
  if (on < 0) {
    const char *e = getenv("LLAMA_TS_PREFETCH");
    on = !(e && strcmp(e, "0") == 0);
  }
#else
  on = 0; /* WebAssembly: no prefetch instruction */
#endif
  return on ? LT_PAGE_AHEAD : 0;
}

/* Rows of w per dot_tile call on the first activation row's pass: the pages ahead are asked for between calls (lt_pages_ahead). */
#define DOTS_STEP 8

static void dots_range(void *v, size_t b, size_t e) {
  const dots_t *D = v;
  const uintptr_t ahead = lt_page_ahead();
  for (size_t i0 = 0; i0 < D->m; i0 += 4) {
    const size_t mr = zmin(4, D->m - i0);
    float *out = D->out + i0 * D->n;
    const float *a = D->a + i0 * D->k;
    if (i0 > 0 || !ahead) {
      OPS->dot_tile(out + b, D->n, a, D->k, mr, D->w + b * D->k, D->k, e - b, D->k);
      continue;
    }
    /* the first pass streams w from memory: page-ahead prefetches between steps of DOTS_STEP rows */
    const uintptr_t end = (uintptr_t)(D->w + D->n * D->k);
    uintptr_t next = lt_page_up(D->w + b * D->k);
    for (size_t j = b; j < e; j += DOTS_STEP) {
      const size_t j1 = zmin(e, j + DOTS_STEP);
      next = lt_pages_ahead(next, (uintptr_t)(D->w + j1 * D->k) + ahead, end);
      OPS->dot_tile(out + j, D->n, a, D->k, mr, D->w + j * D->k, D->k, j1 - j, D->k);
    }
  }
}

static void dots(float *out, const float *a, const float *w, size_t m, size_t n, size_t k) {
  dots_t D = {.out = out, .a = a, .w = w, .m = m, .n = n, .k = k};
  /* pieces of w of at least `grain` rows, small enough to stay in L2 while the m rows pass over them */
  size_t grain = zmax(8, (size_t)32768 / zmax(k, 1));
  grain = (grain + 7) & ~(size_t)7;
  parallel_for(n, grain, threads_for(m * n * k, PAR_MIN_MACS), dots_range, &D);
}

void lt_matvec(float *out, const float *w, const float *x, size_t n, size_t k) {
  if (n == 0) return;
  if (k == 0) {
    memset(out, 0, n * sizeof(float));
    return;
  }
  dots(out, x, w, 1, n, k);
}

/* ---- packed, blocked matmul: out (+)= op(A) · op(B), packing straight from either layout ---- */

/*
 * dst[panel][p][i] = src[p*ld + panel*r + i] for i < rows (zero past rows): packs a matrix whose
 * rows run along p (k) and whose columns are the panel's rows, i.e. no transpose needed. The
 * ISA tables' pack_a/pack_b cover the other layout (rows along i); this one is only used by the
 * training products (lt_matmul_nn/tn), so it stays plain C.
 */
static void pack_copy(float *dst, const float *src, size_t ld, size_t rows, size_t kc, size_t r) {
  for (size_t i0 = 0; i0 < rows; i0 += r) {
    const size_t nr = zmin(r, rows - i0);
    for (size_t p = 0; p < kc; p++) {
      float *d = dst + p * r;
      const float *s = src + p * ld + i0;
      size_t i = 0;
      for (; i < nr; i++) d[i] = s[i];
      for (; i < r; i++) d[i] = 0.0f;
    }
    dst += r * kc;
  }
}

typedef struct {
  const lt_ops *o;
  float *c;
  /* A[i][p] = a_t ? a[p*lda + i] : a[i*lda + p];  B[p][j] = b_kn ? b[p*ldb + j] : b[j*ldb + p] */
  const float *a, *b;
  size_t lda, ldb;
  int a_t, b_kn, accumulate;
  size_t m, n, k;
  size_t mc, kc, nc; /* cache blocks */
  size_t mb;         /* row blocks of A */
  size_t npc;        /* k blocks */
  size_t nsplit;     /* compute tasks per row block */
  size_t chunk;      /* panels of B per packing task */
  float *bpack;      /* shared packed block of B: nc x kc */
  size_t total;      /* tasks */
  _Atomic size_t next, done;
  _Atomic int oom;
} gemm_t;

/*
 * Tasks are numbered in one sequence: for each (column block jc, depth block pc) a packing phase
 * (pieces of B -> bpack) then a compute phase (row block x column split). Threads take task
 * numbers from one counter and, before running one, wait until every task of the previous
 * phases has finished (`done` reaches the phase start: tasks of a phase can't finish before
 * that, so the count can only get there through earlier tasks). A thread that arrives late finds
 * nothing left and leaves; nobody waits for a thread that holds no task.
 */
static size_t gemm_pair_tasks(const gemm_t *G, size_t pair, size_t *pack_tasks) {
  const size_t jc = pair / G->npc;
  const size_t ncb = zmin(G->nc, G->n - jc * G->nc);
  *pack_tasks = cdiv(cdiv(ncb, G->o->nr), G->chunk);
  return *pack_tasks + G->mb * G->nsplit;
}

static void gemm_run(void *v, int tid, int nt) {
  (void)tid;
  (void)nt;
  gemm_t *G = v;
  const lt_ops *o = G->o;
  const size_t mr = o->mr, nr = o->nr;
  size_t pair = 0, pstart = 0, pack_tasks = 0;
  size_t psize = gemm_pair_tasks(G, 0, &pack_tasks);
  size_t cached_pc = SIZE_MAX, cached_ib = SIZE_MAX;
  float *apack = NULL;
  for (;;) {
    const size_t t = atomic_fetch_add_explicit(&G->next, 1, memory_order_relaxed);
    if (t >= G->total) break;
    while (t >= pstart + psize) {
      pstart += psize;
      pair++;
      psize = gemm_pair_tasks(G, pair, &pack_tasks);
    }
    const size_t local = t - pstart;
    const size_t phase_start = local < pack_tasks ? pstart : pstart + pack_tasks;
    unsigned spins = 0;
    while (atomic_load_explicit(&G->done, memory_order_acquire) < phase_start) lt_spin_pause(&spins);

    const size_t jc = pair / G->npc, pc = pair % G->npc;
    const size_t j0 = jc * G->nc, ncb = zmin(G->nc, G->n - j0);
    const size_t p0 = pc * G->kc, kcb = zmin(G->kc, G->k - p0);
    if (atomic_load_explicit(&G->oom, memory_order_relaxed)) {
      /* count it done so nobody waits forever; the caller reports the failure */
    } else if (local < pack_tasks) {
      const size_t q0 = local * G->chunk * nr;
      const size_t rows = zmin(G->chunk * nr, ncb - q0);
      if (G->b_kn)
        pack_copy(G->bpack + q0 * kcb, G->b + p0 * G->ldb + j0 + q0, G->ldb, rows, kcb, nr);
      else
        o->pack_b(G->bpack + q0 * kcb, G->b + (j0 + q0) * G->ldb + p0, G->ldb, rows, kcb);
    } else {
      const size_t ct = local - pack_tasks;
      const size_t ib = ct / G->nsplit, js = ct % G->nsplit;
      const size_t i0 = ib * G->mc, mcb = zmin(G->mc, G->m - i0);
      if (!apack) apack = lt_scratch(0, G->mc * G->kc);
      if (!apack) {
        atomic_store(&G->oom, 1);
      } else {
        if (cached_pc != pc || cached_ib != ib) {
          if (G->a_t)
            pack_copy(apack, G->a + p0 * G->lda + i0, G->lda, mcb, kcb, mr);
          else
            o->pack_a(apack, G->a + i0 * G->lda + p0, G->lda, mcb, kcb);
          cached_pc = pc;
          cached_ib = ib;
        }
        const size_t panels = cdiv(ncb, nr);
        const size_t jp0 = panels * js / G->nsplit, jp1 = panels * (js + 1) / G->nsplit;
        const int acc = pc > 0 || G->accumulate;
        for (size_t jp = jp0; jp < jp1; jp++) {
          const float *bp = G->bpack + jp * nr * kcb;
          const size_t nre = zmin(nr, ncb - jp * nr);
          float *cb = G->c + i0 * G->n + j0 + jp * nr;
          for (size_t ir = 0; ir < mcb; ir += mr)
            o->ukernel(kcb, apack + ir * kcb, bp, cb + ir * G->n, G->n, acc, zmin(mr, mcb - ir), nre);
        }
      }
    }
    atomic_fetch_add_explicit(&G->done, 1, memory_order_release);
  }
}

int lt_gemm(float *out, const float *a, size_t lda, int a_t, const float *b, size_t ldb, int b_kn, size_t m,
            size_t n, size_t k, int accumulate) {
  if (m == 0 || n == 0) return 0;
  if (k == 0) {
    if (!accumulate) memset(out, 0, m * n * sizeof(float));
    return 0;
  }
  const lt_ops *o = OPS;
  gemm_t G;
  memset(&G, 0, sizeof G);
  G.o = o;
  G.c = out;
  G.a = a;
  G.b = b;
  G.lda = lda;
  G.ldb = ldb;
  G.a_t = a_t;
  G.b_kn = b_kn;
  G.accumulate = accumulate;
  G.m = m;
  G.n = n;
  G.k = k;
  G.kc = o->kc;
  G.nc = (o->nc / o->nr) * o->nr;
  G.mc = (o->mc / o->mr) * o->mr;
  G.mb = cdiv(m, G.mc);
  G.npc = cdiv(k, G.kc);
  G.chunk = 4;
  const int threads = threads_for(m * n * k, PAR_MIN_MACS);
  const size_t panels = cdiv(zmin(G.nc, n), o->nr);
  G.nsplit = 1;
  if (threads > 1 && G.mb < (size_t)threads * 4) G.nsplit = zmin(panels, cdiv((size_t)threads * 4, G.mb));
  G.bpack = lt_scratch(1, panels * o->nr * zmin(G.kc, k));
  if (!G.bpack) return -1;
  const size_t npairs = cdiv(n, G.nc) * G.npc;
  size_t total = 0, pack_tasks;
  for (size_t p = 0; p < npairs; p++) total += gemm_pair_tasks(&G, p, &pack_tasks);
  G.total = total;
  atomic_init(&G.next, 0);
  atomic_init(&G.done, 0);
  atomic_init(&G.oom, 0);
  lt_parallel(gemm_run, &G, threads);
  return atomic_load(&G.oom) ? -1 : 0;
}

int lt_matmul(float *out, const float *a, const float *w, size_t m, size_t n, size_t k) {
  if (m == 0 || n == 0) return 0;
  if (k == 0) {
    memset(out, 0, m * n * sizeof(float));
    return 0;
  }
  if (m < SMALL_M) {
    dots(out, a, w, m, n, k);
    return 0;
  }
  /* x·Wᵀ: both operands row-major along k, the ISA tables' own packing layout */
  return lt_gemm(out, a, k, 0, w, k, 0, m, n, k, 0);
}

/* ---- rmsnorm ---- */

typedef struct {
  float *out;
  const float *x, *w;
  size_t dim;
  float eps;
} rms_t;

static void rms_range(void *v, size_t b, size_t e) {
  const rms_t *R = v;
  for (size_t r = b; r < e; r++) OPS->rmsnorm_row(R->out + r * R->dim, R->x + r * R->dim, R->w, R->dim, R->eps);
}

void lt_rmsnorm(float *out, const float *x, const float *w, size_t rows, size_t dim, float eps) {
  rms_t R = {.out = out, .x = x, .w = w, .dim = dim, .eps = eps};
  const int threads = threads_for(rows * dim, PAR_MIN_ELEMS);
  parallel_for(rows, 1, threads, rms_range, &R);
}

/* ---- rope ---- */

typedef struct {
  float *x;
  size_t n_heads, head_dim, pos0;
  const float *cos_t, *sin_t;
} rope_t;

static void rope_range(void *v, size_t b, size_t e) {
  const rope_t *R = v;
  const size_t half = R->head_dim / 2;
  for (size_t t = b; t < e; t++) {
    const float *c = R->cos_t + (R->pos0 + t) * half;
    const float *s = R->sin_t + (R->pos0 + t) * half;
    for (size_t h = 0; h < R->n_heads; h++) {
      float *x1 = R->x + (t * R->n_heads + h) * R->head_dim;
      float *x2 = x1 + half;
      for (size_t i = 0; i < half; i++) {
        const float a = x1[i], b2 = x2[i];
        x1[i] = a * c[i] - b2 * s[i];
        x2[i] = b2 * c[i] + a * s[i];
      }
    }
  }
}

void lt_rope(float *x, size_t rows, size_t n_heads, size_t head_dim, size_t pos0, const float *cos_t,
             const float *sin_t) {
  rope_t R = {.x = x, .n_heads = n_heads, .head_dim = head_dim, .pos0 = pos0, .cos_t = cos_t, .sin_t = sin_t};
  const int threads = threads_for(rows * n_heads * head_dim, PAR_MIN_ELEMS);
  parallel_for(rows, 1, threads, rope_range, &R);
}

/* ---- causal GQA attention, online softmax over blocks of keys ---- */

#define ATT_BLOCK 64
#define ATT_HEADS 4 /* query heads of one kv group handled together (they share the key loads) */

typedef struct {
  float *out;
  const float *q, *k, *v;
  size_t pos0, n_heads, n_kv_heads, head_dim;
  size_t hchunks; /* tasks per (row, kv head): ceil(group / ATT_HEADS) */
  float scale;
  _Atomic int oom;
} attn_t;

/* A task: one query row t, up to ATT_HEADS consecutive query heads that read kv head kvh. */
static void attn_range(void *vctx, size_t b, size_t e) {
  attn_t *A = vctx;
  const lt_ops *o = OPS;
  const size_t D = A->head_dim;
  float *buf = lt_scratch(0, ATT_HEADS * (ATT_BLOCK + D));
  if (!buf) {
    atomic_store(&A->oom, 1);
    return;
  }
  float *s = buf;                            /* [ATT_HEADS][ATT_BLOCK] scores */
  float *acc = buf + ATT_HEADS * ATT_BLOCK;  /* [ATT_HEADS][D] weighted values */
  const size_t group = A->n_heads / A->n_kv_heads;
  const size_t stride = A->n_kv_heads * D;
  const size_t per_row = A->n_kv_heads * A->hchunks;
  for (size_t task = b; task < e; task++) {
    const size_t t = task / per_row, rem = task % per_row;
    const size_t kvh = rem / A->hchunks, hc = rem % A->hchunks;
    const size_t h0 = kvh * group + hc * ATT_HEADS;
    const size_t nh = zmin(ATT_HEADS, group - hc * ATT_HEADS);
    const float *qv = A->q + (t * A->n_heads + h0) * D; /* nh rows, D apart */
    const float *kb = A->k + kvh * D;
    const float *vb = A->v + kvh * D;
    const size_t keys = A->pos0 + t + 1;
    float mx[ATT_HEADS], l[ATT_HEADS];
    for (size_t hh = 0; hh < nh; hh++) {
      mx[hh] = -INFINITY;
      l[hh] = 0.0f;
    }
    memset(acc, 0, nh * D * sizeof(float));
    for (size_t j0 = 0; j0 < keys; j0 += ATT_BLOCK) {
      const size_t nb = zmin(ATT_BLOCK, keys - j0);
      o->dot_tile(s, ATT_BLOCK, qv, D, nh, kb + j0 * stride, stride, nb, D);
      for (size_t hh = 0; hh < nh; hh++) {
        float *sh = s + hh * ATT_BLOCK;
        float *ah = acc + hh * D;
        float bm = -INFINITY;
        for (size_t jj = 0; jj < nb; jj++) {
          sh[jj] *= A->scale;
          if (sh[jj] > bm) bm = sh[jj];
        }
        if (bm > mx[hh]) {
          if (l[hh] > 0.0f) {
            const float corr = expf(mx[hh] - bm);
            o->scale(ah, corr, D);
            l[hh] *= corr;
          }
          mx[hh] = bm;
        }
        l[hh] += o->exp_shift_sum(sh, nb, mx[hh]);
        o->accum_rows(ah, sh, vb + j0 * stride, stride, nb, D);
      }
    }
    for (size_t hh = 0; hh < nh; hh++) {
      float *ov = A->out + (t * A->n_heads + h0 + hh) * D;
      const float *ah = acc + hh * D;
      for (size_t i = 0; i < D; i++) ov[i] = ah[i] / l[hh];
    }
  }
}

int lt_attention(float *out, const float *q, const float *k, const float *v, size_t rows, size_t pos0,
                 size_t n_heads, size_t n_kv_heads, size_t head_dim) {
  if (rows == 0 || n_heads == 0 || head_dim == 0) return 0;
  attn_t A = {.out = out, .q = q, .k = k, .v = v, .pos0 = pos0, .n_heads = n_heads, .n_kv_heads = n_kv_heads,
              .head_dim = head_dim, .scale = (float)(1.0 / sqrt((double)head_dim))};
  A.hchunks = cdiv(n_heads / n_kv_heads, ATT_HEADS);
  atomic_init(&A.oom, 0);
  /* multiply-adds: 2 * head_dim per (query, key) */
  const size_t keys = rows * pos0 + rows * (rows + 1) / 2;
  const int threads = threads_for(keys * n_heads * head_dim * 2, PAR_MIN_MACS);
  parallel_for(rows * n_kv_heads * A.hchunks, 1, threads, attn_range, &A);
  return atomic_load(&A.oom) ? -1 : 0;
}

/* ---- elementwise ---- */

typedef struct {
  float *out;
  const float *x, *y;
} ew_t;

static void swiglu_range(void *v, size_t b, size_t e) {
  const ew_t *E = v;
  OPS->swiglu(E->out + b, E->x + b, E->y + b, e - b);
}

static void add_range(void *v, size_t b, size_t e) {
  const ew_t *E = v;
  OPS->add(E->out + b, E->y + b, e - b);
}

void lt_swiglu(float *out, const float *gate, const float *up, size_t n) {
  ew_t E = {.out = out, .x = gate, .y = up};
  const int threads = threads_for(n * 8, PAR_MIN_ELEMS);
  parallel_for(n, 4096, threads, swiglu_range, &E);
}

void lt_add(float *x, const float *y, size_t n) {
  ew_t E = {.out = x, .x = x, .y = y};
  const int threads = threads_for(n, PAR_MIN_ELEMS * 4);
  parallel_for(n, 16384, threads, add_range, &E);
}
