/*
 * The machine's read bandwidth, the ceiling BENCHMARKS.md measures decode against: threads sum a
 * 2 GiB buffer of 4 KiB pages (as mapped weight files are) with 512-bit loads, each over its own
 * contiguous half, best of 5 passes. Two access patterns: plain loads (the hardware prefetchers
 * alone), and plain loads plus one software prefetch per 4 KiB page, 8 KiB ahead (what the
 * decode kernels do, native/lt.h lt_pages_ahead).
 *
 *   gcc -O3 -mavx512f -fopenmp -o /tmp/read-bandwidth bench/native/read-bandwidth.c
 *   /tmp/read-bandwidth 1; /tmp/read-bandwidth 2
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static double pass(const char *b, size_t n, int ahead) {
  const double t0 = omp_get_wtime();
  __m512i tot = _mm512_setzero_si512();
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const size_t per = n / (size_t)nt & ~(size_t)4095, s = per * (size_t)t, e = s + per;
    __m512i acc = _mm512_setzero_si512();
    for (size_t i = s; i < e; i += 256) {
      if (ahead && (i & 4095) == 0) _mm_prefetch(b + i + 8192, _MM_HINT_T0);
      acc = _mm512_add_epi32(acc, _mm512_load_si512(b + i));
      acc = _mm512_add_epi32(acc, _mm512_load_si512(b + i + 64));
      acc = _mm512_add_epi32(acc, _mm512_load_si512(b + i + 128));
      acc = _mm512_add_epi32(acc, _mm512_load_si512(b + i + 192));
    }
#pragma omp critical
    tot = _mm512_add_epi32(tot, acc);
  }
  const double s = omp_get_wtime() - t0;
  if (_mm512_reduce_add_epi32(tot) == 42) puts("");
  return (double)n / s / 1e9;
}

int main(int argc, char **argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 1;
  const size_t n = (size_t)2 << 30;
  char *b = mmap(NULL, n + 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (b == MAP_FAILED) return 1;
  madvise(b, n + 8192, MADV_NOHUGEPAGE);
  memset(b, 1, n + 8192);
  omp_set_num_threads(threads);
  double best[2] = {0, 0};
  for (int r = 0; r < 5; r++)
    for (int ahead = 0; ahead < 2; ahead++) {
      const double g = pass(b, n, ahead);
      if (g > best[ahead]) best[ahead] = g;
    }
  printf("read bandwidth, %d thread(s), 2 GiB of 4 KiB pages, best of 5: plain loads %.1f GB/s, with a prefetch per page 8 KiB ahead %.1f GB/s\n",
         threads, best[0], best[1]);
  return 0;
}
