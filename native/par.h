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

/* ---- a dynamic parallel-for over [0, n) in chunks ---- */

typedef void (*range_fn)(void *ctx, size_t begin, size_t end);

typedef struct {
  range_fn fn;
  void *ctx;
  size_t n, chunk;
  _Atomic size_t next;
} pfor_t;

static void pfor_run(void *v, int tid, int nt) {
  (void)tid;
  (void)nt;
  pfor_t *J = v;
  for (;;) {
    const size_t b = atomic_fetch_add_explicit(&J->next, J->chunk, memory_order_relaxed);
    if (b >= J->n) break;
    J->fn(J->ctx, b, zmin(b + J->chunk, J->n));
  }
}

static inline void parallel_for(size_t n, size_t chunk, int threads, range_fn fn, void *ctx) {
  if (n == 0) return;
  if (chunk == 0) chunk = 1;
  if (threads <= 1 || n <= chunk) {
    fn(ctx, 0, n);
    return;
  }
  pfor_t J = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk};
  atomic_init(&J.next, 0);
  lt_parallel(pfor_run, &J, threads);
}

#endif
