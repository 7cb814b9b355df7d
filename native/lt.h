/*
 * llama-ts native kernels: shared declarations.
 *
 * The library is split by instruction set: isa_scalar.c (portable C), isa_avx2.c (AVX2 + FMA)
 * and isa_avx512.c (AVX-512 F/BW/VL/DQ) each export one `lt_ops` table of the ISA-specific
 * primitives, compiled with their own flags; kernels.c builds the public kernels (blocking,
 * threading) on top of whichever table was chosen at run time.
 */
#ifndef LLAMA_TS_LT_H
#define LLAMA_TS_LT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(_M_X64)
#define LT_X86_64 1
#endif

typedef struct lt_ops {
  const char *name;
  /* gemm micro-tile and cache blocking (floats). */
  size_t mr, nr, mc, kc, nc;
  /*
   * Packs `rows` rows (row stride ld) x `kc` columns into interleaved panels of `r` rows:
   * dst[panel][p][i] = src[(panel*r + i)*ld + p], rows past `rows` zero-filled.
   * r is the table's mr (packing x) or nr (packing w).
   */
  void (*pack_a)(float *dst, const float *src, size_t ld, size_t rows, size_t kc);
  void (*pack_b)(float *dst, const float *src, size_t ld, size_t rows, size_t kc);
  /*
   * c[i][j] (+)= sum_p ap[p][i] * bp[p][j] for i < mr_eff, j < nr_eff (c row stride ldc);
   * overwrites when accumulate == 0.
   */
  void (*ukernel)(size_t kc, const float *ap, const float *bp, float *c, size_t ldc, int accumulate,
                  size_t mr_eff, size_t nr_eff);
  /*
   * out[i*ldo + j] = dot(a + i*lda, w + j*ldw) over k floats, for i < mrows (<= 4), j < nrows.
   * The small-m matmul, (mrows = 1) the matrix-vector product, and attention scores.
   */
  void (*dot_tile)(float *out, size_t ldo, const float *a, size_t lda, size_t mrows, const float *w, size_t ldw,
                   size_t nrows, size_t k);
  /* acc[i] += sum_j p[j] * v[j*ldv + i] for i < d, j < nrows (attention's weighted values). */
  void (*accum_rows)(float *acc, const float *p, const float *v, size_t ldv, size_t nrows, size_t d);
  float (*dot)(const float *a, const float *b, size_t n);
  /* y[i] += a * x[i] */
  void (*axpy)(float *y, float a, const float *x, size_t n);
  /* y[i] *= a */
  void (*scale)(float *y, float a, size_t n);
  /* s[i] = exp(s[i] - max); returns the sum (float accumulation). */
  float (*exp_shift_sum)(float *s, size_t n, float max);
  void (*rmsnorm_row)(float *out, const float *x, const float *w, size_t dim, float eps);
  void (*swiglu)(float *out, const float *gate, const float *up, size_t n);
  void (*add)(float *x, const float *y, size_t n);
} lt_ops;

extern const lt_ops lt_ops_scalar;
#ifdef LT_X86_64
extern const lt_ops lt_ops_avx2;
extern const lt_ops lt_ops_avx512;
#endif

/* ---- thread pool (pool.c) ---- */

/* fn(ctx, tid, nthreads) runs on nthreads threads (tid 0 is the caller). */
typedef void (*lt_task_fn)(void *ctx, int tid, int nthreads);

/* Sets the pool size (>= 1); returns the size in effect. Not thread-safe against lt_parallel. */
int lt_set_threads(int n);
int lt_get_threads(void);
/*
 * Runs fn on min(want, pool size) threads and returns when all have finished. Falls back to
 * running fn(ctx, 0, 1) on the caller if the pool is busy (a call from another thread).
 */
void lt_parallel(lt_task_fn fn, void *ctx, int want);
/*
 * Reports on the lt_parallel job that just returned (call it right after, from the same
 * thread): the caller (tid 0) ran `caller_units` of its `units` equal pieces of work. The pool
 * compares the job's time with the caller's own pace and, while threaded jobs are slower than
 * the caller alone would have been (workers descheduled on a busy machine), runs the next jobs
 * on the caller alone for a while (see pool.c). Ignored when the job ran on the caller alone.
 */
void lt_parallel_feedback(size_t caller_units, size_t units);
/*
 * The calling OS thread's scratch buffer number `slot` (< LT_SCRATCH_SLOTS), at least `floats`
 * floats, 64-byte aligned, contents undefined; NULL if out of memory. Kept between calls.
 */
#define LT_SCRATCH_SLOTS 2
float *lt_scratch(int slot, size_t floats);
/* A polite spin step (pause; yields the CPU after many). */
void lt_spin_pause(unsigned *spins);

/* ---- streaming weights (kernels.c) ---- */

/*
 * Decoding reads every weight once per token, so it runs at the speed one core can pull bytes
 * from memory. The hardware prefetchers follow a stream only within a 4 KiB page: each new page
 * starts cold (its TLB walk and its first misses in the open). A loop that walks weights from
 * `cursor` on asks, as it reaches address a, for every page that starts before a +
 * LT_PAGE_AHEAD: one software prefetch per page, and the hardware streams the rest of the page.
 * Measured (AMD EPYC Zen 5, 1.1B-shape decode, median step, 1 thread): f16 12.5 -> 17.5 tok/s,
 * q8_0 23.2 -> 27.4, q4_0 31.9 -> 46.7, q4_K_M 29.3 -> 38.4; 2 threads +8..35 %; 8 and 16 KiB
 * ahead alike (BENCHMARKS.md, "Real size").
 *
 * lt_page_ahead() is LT_PAGE_AHEAD, or 0 (off) when LLAMA_TS_PREFETCH=0 (for comparisons).
 * lt_pages_ahead(cursor, upto, end) prefetches the page starts in [cursor, min(upto, end)) and
 * returns the new cursor; start a walk at lt_page_up(first address).
 */
#define LT_PAGE_AHEAD ((uintptr_t)8192)
#define LT_PAGE ((uintptr_t)4096)
uintptr_t lt_page_ahead(void);
static inline uintptr_t lt_page_up(const void *p) { return ((uintptr_t)p + LT_PAGE - 1) & ~(LT_PAGE - 1); }
static inline uintptr_t lt_pages_ahead(uintptr_t cursor, uintptr_t upto, uintptr_t end) {
  if (upto > end) upto = end;
  for (; cursor < upto; cursor += LT_PAGE) __builtin_prefetch((const void *)cursor);
  return cursor;
}

/* ---- kernels (kernels.c) ---- */

void lt_set_ops(const lt_ops *ops);
const lt_ops *lt_get_ops(void);

/* Return 0 on success, -1 on out of memory. */
int lt_matmul(float *out, const float *a, const float *w, size_t m, size_t n, size_t k);
/*
 * The packed, blocked, threaded product behind lt_matmul and the training products (train.c):
 * out[m×n] (+)= A·B with A[i][p] = a_t ? a[p*lda + i] : a[i*lda + p] and
 * B[p][j] = b_kn ? b[p*ldb + j] : b[j*ldb + p]; overwrites out unless accumulate.
 */
int lt_gemm(float *out, const float *a, size_t lda, int a_t, const float *b, size_t ldb, int b_kn, size_t m,
            size_t n, size_t k, int accumulate);
void lt_matvec(float *out, const float *w, const float *x, size_t n, size_t k);
void lt_rmsnorm(float *out, const float *x, const float *w, size_t rows, size_t dim, float eps);
void lt_rope(float *x, size_t rows, size_t n_heads, size_t head_dim, size_t pos0, const float *cos_t,
             const float *sin_t);
int lt_attention(float *out, const float *q, const float *k, const float *v, size_t rows, size_t pos0,
                 size_t n_heads, size_t n_kv_heads, size_t head_dim);
void lt_swiglu(float *out, const float *gate, const float *up, size_t n);
void lt_add(float *x, const float *y, size_t n);

#endif
