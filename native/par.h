/*
 * Size helpers and the dynamic parallel-for shared by the ISA-neutral kernel files (kernels.c,
 * train.c). All `static inline` so each caller keeps the inlined code it had when these were
 * file-local copies.
 */
#ifndef LLAMA_TS_PAR_H
#define LLAMA_TS_PAR_H

#include "lt.h"

#include <stdatomic.h>

static inline size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }
static inline size_t zmin(size_t a, size_t b) { return a < b ? a : b; }
static inline size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

/*
 * A kernel uses another thread only if each gets at least this much work (multiply-adds, or
 * elements for the streaming kernels): handing work to a spinning worker costs ~1 µs, to a
 * sleeping one much more. Measured here (AVX-512, 2 cores): matvec 128x128 (16k MACs) is faster
 * on one thread (0.8 µs vs 1.2-1.5), 288x288 (83k) on two (3.9 µs vs 5.0).
 */
#define PAR_MIN_MACS ((size_t)32 * 1024)
#define PAR_MIN_ELEMS ((size_t)64 * 1024)

static inline int threads_for(size_t work, size_t min_per_thread) {
  const int t = lt_get_threads();
  if (t <= 1 || work < 2 * min_per_thread) return 1;
  const size_t by_work = work / min_per_thread;
  return by_work < (size_t)t ? (int)by_work : t;
}

/* ---- guided self-scheduling: how work is handed out ---- */

/*
 * Takes the next piece of [*next, n) for one of `nthreads` threads: max(grain, remaining /
 * (2*nthreads)) items rounded up to a multiple of `grain` (guided self-scheduling). Returns the
 * piece's begin and sets *end, or returns n when nothing is left.
 *
 * Big pieces first keep the counter traffic low; pieces shrink towards the end so a thread that
 * joins late (a worker woken up or scheduled after the caller started) or runs slowly takes
 * only a small share of what is left, and the others never wait long for its last piece. A
 * static split (or fixed n/4 chunks) makes the caller wait for a whole quarter of the work held
 * by a late thread.
 */
static inline size_t par_take(_Atomic size_t *next, size_t n, size_t grain, int nthreads, size_t *end) {
  size_t b = atomic_load_explicit(next, memory_order_relaxed);
  for (;;) {
    if (b >= n) return n;
    size_t c = (n - b) / (2 * (size_t)nthreads);
    c = c <= grain ? grain : (c + grain - 1) / grain * grain;
    const size_t e = c < n - b ? b + c : n;
    if (atomic_compare_exchange_weak_explicit(next, &b, e, memory_order_relaxed, memory_order_relaxed)) {
      *end = e;
      return b;
    }
  }
}

/* ---- a dynamic parallel-for over [0, n): pieces of at least `grain` items ---- */

typedef void (*range_fn)(void *ctx, size_t begin, size_t end);

typedef struct {
  range_fn fn;
  void *ctx;
  size_t n, grain;
  size_t caller_units; /* items tid 0 ran (only tid 0 writes it) */
  /* on its own cache line: every take writes it, every thread reads the fields above */
  _Alignas(64) _Atomic size_t next;
} pfor_t;

static void pfor_run(void *v, int tid, int nt) {
  pfor_t *J = v;
  for (;;) {
    size_t e = 0;
    const size_t b = par_take(&J->next, J->n, J->grain, nt, &e);
    if (b >= J->n) break;
    J->fn(J->ctx, b, e);
    if (tid == 0) J->caller_units += e - b;
  }
}

/* Runs fn over [0, n) in pieces of at least `grain` (a multiple of it, but the last) on up to `threads` threads. */
static inline void parallel_for(size_t n, size_t grain, int threads, range_fn fn, void *ctx) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  if (threads <= 1 || n <= grain) {
    fn(ctx, 0, n);
    return;
  }
  pfor_t J = {.fn = fn, .ctx = ctx, .n = n, .grain = grain};
  atomic_init(&J.next, 0);
  lt_parallel(pfor_run, &J, threads);
  lt_parallel_feedback(J.caller_units, n);
}

#endif
