/*
 * The thread pool: workers are created once (setThreads), spin briefly on a job word after each
 * job, then sleep on a condition variable. The calling thread takes part as tid 0. One job at a
 * time: a call from a second thread while a job runs simply runs single-threaded.
 *
 * Jobs hand out their work dynamically (kernels.c), so a worker is optional: it *joins* a job
 * (a CAS on `state`) before touching it, and the caller, once its own share is done (all work
 * taken), *closes* the job and waits only for the workers that joined. On a loaded machine a
 * worker that is not scheduled in time therefore costs nothing, instead of a scheduler tick.
 *
 * Two costs the join protocol alone does not remove on a busy shared VM (measured on this 2-core
 * VM at load ~15, q8_0 matvec 2048x2048, ~80 us on 1 thread, 400 threaded calls):
 * - waking a sleeping worker (under load a spinning worker is soon descheduled, so it sleeps by
 *   the next job: 380 of 400 jobs woke it) made the kernel preempt the waking caller in favour
 *   of the worker: the wake-up took 150 of the jobs' 214 ms. Workers therefore run
 *   SCHED_BATCH (no wake-up preemption): 0.2-3 ms in all, 2 threads now as fast as 1 there.
 * - a worker that joined and is then descheduled while holding a piece of work: the caller
 *   must wait for it, a whole time slice (ms) if need be. So the pool watches whether its jobs
 *   pay off (lt_parallel_feedback: the kernels report the share of the work the caller did
 *   itself; the caller's own time divided by that share estimates the time on 1 thread) and,
 *   after a window of jobs slower in all than that estimate, runs jobs on the caller alone for
 *   a back-off period that doubles while the losses go on, then tries threads again.
 */
#define _GNU_SOURCE
#include "lt.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef LT_X86_64
#include <immintrin.h>
#endif

#define LT_MAX_THREADS 256
/* How long an idle worker spins before it sleeps (decode calls kernels every few µs). */
#define LT_SPIN_NS 200000ull

static inline void cpu_relax(void) {
#ifdef LT_X86_64
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

void lt_spin_pause(unsigned *spins) {
  if (++*spins < 2048) cpu_relax();
  else sched_yield();
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct {
  pthread_mutex_t lock; /* guards the sleep/wake handshake */
  pthread_cond_t cond;
  pthread_mutex_t busy; /* one job (and one resize) at a time */
  /* (generation << 16) | nthreads of the current job: read once by each worker. */
  _Atomic uint64_t word;
  _Atomic int sleepers;
  /* (generation << 32) | closed << 31 | workers that joined */
  _Atomic uint64_t state;
  _Atomic int finished; /* workers that joined and are done */
  lt_task_fn fn;
  void *ctx;
  int size;     /* threads a job may use, caller included */
  int nworkers; /* worker threads created (never destroyed) */
} P = {
  .lock = PTHREAD_MUTEX_INITIALIZER,
  .cond = PTHREAD_COND_INITIALIZER,
  .busy = PTHREAD_MUTEX_INITIALIZER,
  .size = 1,
};

typedef struct {
  int tid;       /* 1.. */
  uint64_t word; /* the job word when the worker was created: jobs after it are new */
} worker_arg;

static void *worker_main(void *arg) {
  const worker_arg wa = *(const worker_arg *)arg;
  free(arg);
#ifdef SCHED_BATCH
  /*
   * Waking a sleeping worker must not preempt the caller that wakes it (on a busy machine the
   * woken worker would otherwise take the caller's core while the caller holds the job's first
   * pieces). SCHED_BATCH threads get no wake-up preemption and need no privileges.
   */
  {
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  }
#endif
  const int tid = wa.tid;
  /* not a fresh load: a job may already have been posted before this thread got to run */
  uint64_t seen = wa.word;
  for (;;) {
    uint64_t w = atomic_load_explicit(&P.word, memory_order_acquire);
    if (w == seen) {
      /* spin for a while, then sleep */
      uint64_t t0 = now_ns();
      unsigned n = 0;
      while ((w = atomic_load_explicit(&P.word, memory_order_acquire)) == seen) {
        cpu_relax();
        if ((++n & 63) == 0 && now_ns() - t0 > LT_SPIN_NS) break;
      }
      if (w == seen) {
        pthread_mutex_lock(&P.lock);
        atomic_fetch_add(&P.sleepers, 1);
        while ((w = atomic_load(&P.word)) == seen) pthread_cond_wait(&P.cond, &P.lock);
        atomic_fetch_sub(&P.sleepers, 1);
        pthread_mutex_unlock(&P.lock);
      }
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
  return NULL;
}

int lt_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > LT_MAX_THREADS) n = LT_MAX_THREADS;
  pthread_mutex_lock(&P.busy);
  while (P.nworkers < n - 1) {
    pthread_t th;
    pthread_attr_t attr;
    worker_arg *wa = malloc(sizeof *wa);
    if (!wa) break;
    wa->tid = P.nworkers + 1;
    wa->word = atomic_load(&P.word); /* stable: no job runs while we hold `busy` */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, worker_main, wa);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      free(wa);
      break;
    }
    P.nworkers++;
  }
  P.size = n <= P.nworkers + 1 ? n : P.nworkers + 1;
  int size = P.size;
  pthread_mutex_unlock(&P.busy);
  return size;
}

int lt_get_threads(void) { return P.size; }

/*
 * The pay-off watch (see the top): sums over a window of LT_WATCH_JOBS threaded jobs of their
 * time and of the estimated time on 1 thread; `single_left` jobs still to run on the caller
 * alone. Kept by the thread that holds `busy` (the last job's times) and the kernel that
 * reports on it right after; a report racing with a job of another thread only blurs the sums.
 */
#define LT_WATCH_JOBS 32
#define LT_BACKOFF_JOBS 64
#define LT_BACKOFF_MAX_LEVEL 6
static struct {
  uint64_t own_ns, job_ns;  /* the last threaded job: the caller's own work; the whole job (waking workers, waiting) */
  int fresh;                /* a job ran threaded and was not reported on yet */
  uint64_t est_ns, act_ns;  /* window sums */
  unsigned jobs, level, single_left;
} W;

void lt_parallel_feedback(size_t caller_units, size_t units) {
  if (!W.fresh || units == 0) return;
  W.fresh = 0;
  const uint64_t act = W.job_ns;
  /* the caller ran caller_units of units in own_ns: alone it would have needed own_ns * units / caller_units */
  const uint64_t est = caller_units == 0 ? act : (uint64_t)((double)W.own_ns * (double)units / (double)caller_units);
  W.est_ns += est;
  W.act_ns += act;
  if (++W.jobs < LT_WATCH_JOBS) return;
  if (W.act_ns > W.est_ns) {
    W.single_left = LT_BACKOFF_JOBS << W.level;
    if (W.level < LT_BACKOFF_MAX_LEVEL) W.level++;
  } else {
    W.level = 0;
  }
  W.jobs = 0;
  W.est_ns = W.act_ns = 0;
}

void lt_parallel(lt_task_fn fn, void *ctx, int want) {
  if (want <= 1 || P.size <= 1 || pthread_mutex_trylock(&P.busy) != 0) {
    W.fresh = 0; /* no report on this job: it did not run threaded */
    fn(ctx, 0, 1);
    return;
  }
  if (W.single_left > 0) {
    W.single_left--;
    W.fresh = 0;
    pthread_mutex_unlock(&P.busy);
    fn(ctx, 0, 1);
    return;
  }
  int nthreads = want < P.size ? want : P.size;
  const uint64_t t0 = now_ns(); /* the job's time includes waking the workers */
  P.fn = fn;
  P.ctx = ctx;
  const uint64_t w = atomic_load(&P.word);
  const uint64_t gen = ((w >> 16) + 1) & 0xffffffffu;
  atomic_store(&P.finished, 0);
  atomic_store(&P.state, gen << 32);
  atomic_store(&P.word, (gen << 16) | (uint64_t)nthreads); /* seq_cst: pairs with the sleepers check */
  if (atomic_load(&P.sleepers) > 0) {
    pthread_mutex_lock(&P.lock);
    pthread_cond_broadcast(&P.cond);
    pthread_mutex_unlock(&P.lock);
  }
  const uint64_t t1 = now_ns();
  fn(ctx, 0, nthreads);
  const uint64_t t2 = now_ns();
  /* all work is taken: close the job, then wait for the workers that joined it */
  const int joined = (int)(atomic_fetch_or(&P.state, 1ull << 31) & 0x7fffffffu);
  unsigned spins = 0;
  while (atomic_load_explicit(&P.finished, memory_order_acquire) != joined) lt_spin_pause(&spins);
  W.own_ns = t2 - t1;
  W.job_ns = now_ns() - t0;
  W.fresh = 1;
  pthread_mutex_unlock(&P.busy);
}

static _Thread_local float *scratch_ptr[LT_SCRATCH_SLOTS];
static _Thread_local size_t scratch_cap[LT_SCRATCH_SLOTS];

float *lt_scratch(int slot, size_t floats) {
  if (slot < 0 || slot >= LT_SCRATCH_SLOTS) return NULL;
  if (floats == 0) floats = 1;
  if (floats <= scratch_cap[slot]) return scratch_ptr[slot];
  free(scratch_ptr[slot]);
  scratch_cap[slot] = 0;
  size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
  scratch_ptr[slot] = aligned_alloc(64, bytes);
  if (scratch_ptr[slot]) scratch_cap[slot] = bytes / sizeof(float);
  return scratch_ptr[slot];
}
