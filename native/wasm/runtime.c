/*
 * The freestanding runtime of the wasm32 build: what pool.c and libc give the native build.
 *
 * Memory: one linear memory (shared when threads are possible), imported from JS. `malloc`
 * carves blocks from `__heap_base` upwards, growing the memory with memory.grow; every block is
 * 64-byte aligned behind a 64-byte header holding its size. Sizes up to 1 MiB are rounded to a
 * power of two and freed blocks kept per size (the kernels' scratch and the JS side's operand
 * buffers: a handful of sizes); larger ones are rounded to 64 KiB and reused first-fit when a
 * free one is at most twice the request. Never returned to the memory (wasm cannot shrink).
 * One spin lock guards the allocator (allocations are rare: scratch is kept per thread).
 *
 * Threads (lt.h's pool API): the JS side starts Web Workers / worker_threads that instantiate
 * this module on the same memory, give themselves a stack (__stack_pointer) and a TLS block
 * (__wasm_init_tls), and call lt_wasm_worker(tid), which never returns. The protocol is
 * pool.c's: a job word (generation << 16 | threads) that workers read once; a worker *joins* a
 * job with a CAS on `state` before touching it; the caller runs its share as tid 0, then closes
 * the job and waits only for the workers that joined, so a worker that is not scheduled (or not
 * started yet) costs nothing. Idle workers spin a while, then sleep in memory.atomic.wait32 on
 * `wake`; the caller only spins (a browser's main thread may not wait) and notifies sleepers.
 */
#include "../lt.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __wasm_atomics__
#define WAIT32(p, v, ns) __builtin_wasm_memory_atomic_wait32((p), (v), (ns))
#define NOTIFY(p) __builtin_wasm_memory_atomic_notify((p), (unsigned)-1)
#define MAX_THREADS 64
#else /* the single-thread build (unshared memory, atomics lowered to plain accesses) */
#define WAIT32(p, v, ns) ((void)(p), (void)(v), 0)
#define NOTIFY(p) ((void)(p), 0)
#define MAX_THREADS 1
#endif

/* ---- memory primitives (clang lowers these to memory.copy / memory.fill with bulk-memory) ---- */

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  __builtin_memcpy(dst, src, n);
  return dst;
}
void *memmove(void *dst, const void *src, size_t n) {
  __builtin_memmove(dst, src, n);
  return dst;
}
void *memset(void *dst, int c, size_t n) {
  __builtin_memset(dst, c, n);
  return dst;
}
int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

/* ---- allocator ---- */

extern unsigned char __heap_base;

#define HDR 64
#define SMALL_CLASSES 15 /* 64 B << 0 .. 64 B << 14 = 1 MiB */
#define SMALL_MAX ((size_t)64 << (SMALL_CLASSES - 1))
#define BIG_ROUND ((size_t)65536)

typedef struct blk {
  size_t size; /* usable bytes */
  struct blk *next;
} blk;

static struct {
  _Atomic int lock;
  uintptr_t top; /* next free byte (0: not set up yet) */
  blk *small[SMALL_CLASSES];
  blk *big;
} H;

static void heap_lock(void) {
  int expected = 0;
  while (!atomic_compare_exchange_weak_explicit(&H.lock, &expected, 1, memory_order_acquire, memory_order_relaxed))
    expected = 0;
}
static void heap_unlock(void) { atomic_store_explicit(&H.lock, 0, memory_order_release); }

/* Bump-allocates `bytes` (a multiple of 64) past the heap top; 0 when the memory cannot grow. */
static uintptr_t bump(size_t bytes) {
  if (H.top == 0) H.top = ((uintptr_t)&__heap_base + 63) & ~(uintptr_t)63;
  const uintptr_t start = H.top;
  if (bytes > UINTPTR_MAX - start) return 0;
  const uintptr_t end = start + bytes;
  const uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * 65536u;
  if (end > have) {
    const size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  H.top = end;
  return start;
}

void *malloc(size_t n) {
  if (n > (size_t)0xF0000000u) return NULL;
  heap_lock();
  blk *b = NULL;
  if (n <= SMALL_MAX) {
    int c = 0;
    while (((size_t)64 << c) < n) c++;
    const size_t size = (size_t)64 << c;
    if (H.small[c]) {
      b = H.small[c];
      H.small[c] = b->next;
    } else {
      const uintptr_t p = bump(HDR + size);
      if (p) {
        b = (blk *)(p + HDR - sizeof(blk));
        b->size = size;
      }
    }
  } else {
    const size_t size = (n + BIG_ROUND - 1) & ~(BIG_ROUND - 1);
    for (blk **pp = &H.big; *pp; pp = &(*pp)->next) {
      if ((*pp)->size >= size && (*pp)->size / 2 <= size) {
        b = *pp;
        *pp = b->next;
        break;
      }
    }
    if (!b) {
      const uintptr_t p = bump(HDR + size);
      if (p) {
        b = (blk *)(p + HDR - sizeof(blk));
        b->size = size;
      }
    }
  }
  heap_unlock();
  return b ? (void *)((unsigned char *)b + sizeof(blk)) : NULL;
}

void *aligned_alloc(size_t align, size_t n) { return align <= 64 ? malloc(n) : NULL; }

void free(void *ptr) {
  if (!ptr) return;
  blk *b = (blk *)((unsigned char *)ptr - sizeof(blk));
  heap_lock();
  if (b->size <= SMALL_MAX) {
    int c = 0;
    while (((size_t)64 << c) < b->size) c++;
    b->next = H.small[c];
    H.small[c] = b;
  } else {
    b->next = H.big;
    H.big = b;
  }
  heap_unlock();
}

/* ---- thread pool ---- */

/* Spin iterations of an idle worker before it sleeps (tens of µs: decode calls kernels every few µs). */
#define LT_SPIN_ITERS 20000u

static struct {
  _Atomic int busy;     /* one job at a time */
  _Atomic uint64_t word; /* (generation << 16) | nthreads of the current job */
  _Atomic uint32_t wake; /* bumped per job; sleeping workers wait on it */
  _Atomic int sleepers;
  _Atomic uint64_t state; /* (generation << 32) | closed << 31 | workers that joined */
  _Atomic int finished;   /* workers that joined and are done */
  _Atomic int online;     /* workers that have entered lt_wasm_worker */
  lt_task_fn fn;
  void *ctx;
  int size; /* threads a job may use, caller included */
} P = {.size = 1};

/*
 * Whether this thread may block in memory.atomic.wait32: workers and a Node main thread may
 * (lt_wasm_allow_wait), a browser's main thread may not.
 */
static _Thread_local int can_wait;
static _Atomic int never_changes;

__attribute__((export_name("lt_wasm_allow_wait"))) void lt_wasm_allow_wait(void) { can_wait = 1; }

/* Spins; after many spins, sleeps 20 µs where the thread may (wasm has no sched_yield). */
void lt_spin_pause(unsigned *spins) {
  if (++*spins >= 2048 && can_wait) WAIT32((int *)&never_changes, 0, 20000ll);
}

int lt_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  P.size = n;
  return n;
}

int lt_get_threads(void) { return P.size; }

/* pool.c's pay-off watch (threaded jobs that lose to the caller alone) is not kept here. */
void lt_parallel_feedback(size_t caller_units, size_t units) {
  (void)caller_units;
  (void)units;
}

void lt_parallel(lt_task_fn fn, void *ctx, int want) {
  int expected = 0;
  if (want <= 1 || P.size <= 1 ||
      !atomic_compare_exchange_strong_explicit(&P.busy, &expected, 1, memory_order_acquire, memory_order_relaxed)) {
    fn(ctx, 0, 1);
    return;
  }
  const int nthreads = want < P.size ? want : P.size;
  P.fn = fn;
  P.ctx = ctx;
  const uint64_t w = atomic_load(&P.word);
  const uint64_t gen = ((w >> 16) + 1) & 0xffffffffu;
  atomic_store(&P.finished, 0);
  atomic_store(&P.state, gen << 32);
  atomic_store(&P.word, (gen << 16) | (uint64_t)nthreads); /* seq_cst: pairs with the sleepers check */
  atomic_fetch_add(&P.wake, 1);
  if (atomic_load(&P.sleepers) > 0) NOTIFY((int *)&P.wake);
  fn(ctx, 0, nthreads);
  /* all work is taken: close the job, then wait for the workers that joined it */
  const int joined = (int)(atomic_fetch_or(&P.state, 1ull << 31) & 0x7fffffffu);
  unsigned spins = 0;
  while (atomic_load_explicit(&P.finished, memory_order_acquire) != joined) lt_spin_pause(&spins);
  atomic_store_explicit(&P.busy, 0, memory_order_release);
}

/* A worker thread's loop (tid >= 1); never returns. Called by the JS worker after its setup. */
__attribute__((export_name("lt_wasm_worker"))) void lt_wasm_worker(int tid) {
  uint64_t seen = atomic_load(&P.word);
  can_wait = 1;
  atomic_fetch_add(&P.online, 1);
  for (;;) {
    uint64_t w;
    unsigned n = 0;
    while ((w = atomic_load_explicit(&P.word, memory_order_acquire)) == seen && n < LT_SPIN_ITERS) n++;
    if (w == seen) {
      atomic_fetch_add(&P.sleepers, 1);
      for (;;) {
        const uint32_t wk = atomic_load(&P.wake);
        if ((w = atomic_load(&P.word)) != seen) break;
        /* a bounded wait: a thread blocked in wait32 cannot be terminated (Node hangs at exit),
           one that wakes every 50 ms passes a loop check where termination takes effect */
        WAIT32((int *)&P.wake, (int)wk, 50000000ll);
      }
      atomic_fetch_sub(&P.sleepers, 1);
    }
    seen = w;
    const int nthreads = (int)(w & 0xffff);
    if (tid < nthreads) {
      /* join the job unless it has moved on (closed, or a newer one) */
      const uint64_t gen = (w >> 16) & 0xffffffffu;
      uint64_t st = atomic_load(&P.state);
      int joined = 0;
      while ((st >> 32) == gen && !(st & (1ull << 31))) {
        if (atomic_compare_exchange_weak(&P.state, &st, st + 1)) {
          joined = 1;
          break;
        }
      }
      if (joined) {
        P.fn(P.ctx, tid, nthreads);
        atomic_fetch_add_explicit(&P.finished, 1, memory_order_release);
      }
    }
  }
}

/* Workers that have started (tests wait for them before timing or comparing thread counts). */
__attribute__((export_name("lt_wasm_workers_online"))) int lt_wasm_workers_online(void) {
  return atomic_load(&P.online);
}

static _Thread_local float *scratch_ptr[LT_SCRATCH_SLOTS];
static _Thread_local size_t scratch_cap[LT_SCRATCH_SLOTS];

float *lt_scratch(int slot, size_t floats) {
  if (slot < 0 || slot >= LT_SCRATCH_SLOTS) return NULL;
  if (floats == 0) floats = 1;
  if (floats <= scratch_cap[slot]) return scratch_ptr[slot];
  free(scratch_ptr[slot]);
  scratch_cap[slot] = 0;
  const size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
  scratch_ptr[slot] = malloc(bytes);
  if (scratch_ptr[slot]) scratch_cap[slot] = bytes / sizeof(float);
  return scratch_ptr[slot];
}
