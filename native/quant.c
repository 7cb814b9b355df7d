/*
 * Products with quantised weights, working on the GGUF blocks directly (no dequantised copy):
 *
 *   q8_0: 34-byte blocks of 32 values: f16 d, 32 x int8 q;           x = d*q
 *   q4_0: 18-byte blocks of 32 values: f16 d, 16 bytes of nibbles;   x = d*(q-8),
 *         byte j: element j in the low nibble, element j+16 in the high nibble
 *   f16:  binary16 values
 *
 * Choice for q8_0/q4_0 (as llama.cpp does): each activation row is quantised once per call to
 * int8 in blocks of 32 (scale d_a = amax/127 kept in float32, q = roundf(x/d_a)), then a block
 * product is an exact integer dot product scaled by d_w*d_a and accumulated in float. Integer
 * dot products: AVX-512 VNNI (vpdpbusd on 256-bit lanes) when the CPU has it, else AVX2
 * (vpmaddubsw + vpmaddwd); the unsigned*signed instructions get |w| and x*sign(w). f16 rows are
 * widened with F16C/AVX-512 conversions and multiplied in float32 (FMA).
 * src/kernels/quant.ts holds the reference (same quantiser, same integer sums).
 *
 * The variant follows the ISA the float kernels use (lt_get_ops()->name), so setIsa() in tests
 * covers every path. Threads split the weight rows.
 */
#include "lt.h"
#include "quant.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#ifdef LT_X86_64
#include <immintrin.h>
#endif

#define QK 32

size_t lt_q_row_bytes(int type, size_t k) {
  switch (type) {
    case LT_QT_F16: return k * 2;
    case LT_QT_Q8_0: return k % QK ? 0 : k / QK * 34;
    case LT_QT_Q4_0: return k % QK ? 0 : k / QK * 18;
    default: return 0;
  }
}

static float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    uint32_t e = 113;
    while (!(mant & 0x400)) {
      mant <<= 1;
      e--;
    }
    bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static inline float block_d(const uint8_t *blk) {
  uint16_t h;
  memcpy(&h, blk, 2);
  return half_to_float(h);
}

/* The activation quantiser (identical to quantizeActivations in quant.ts). */
static void quantize_act(const float *x, size_t k, int8_t *q, float *d) {
  for (size_t b = 0; b < k / QK; b++) {
    const float *xb = x + b * QK;
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) {
      const float v = fabsf(xb[j]);
      if (v > amax) amax = v;
    }
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    d[b] = db;
    for (int j = 0; j < QK; j++) q[b * QK + j] = (int8_t)roundf(xb[j] * id);
  }
}

/* One weight row (k values) . one activation row. q: int8 activations + block scales; x: floats. */
typedef float (*qdot_fn)(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k);

/* ---- portable C ---- */

static float dot_q8_scalar(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)x;
  float acc = 0.0f;
  for (size_t b = 0; b < k / QK; b++) {
    const uint8_t *blk = w + b * 34;
    const int8_t *wq = (const int8_t *)(blk + 2);
    int32_t s = 0;
    for (int j = 0; j < QK; j++) s += (int32_t)wq[j] * q[b * QK + j];
    acc += block_d(blk) * d[b] * (float)s;
  }
  return acc;
}

static float dot_q4_scalar(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)x;
  float acc = 0.0f;
  for (size_t b = 0; b < k / QK; b++) {
    const uint8_t *blk = w + b * 18;
    const int8_t *qb = q + b * QK;
    int32_t s = 0;
    for (int j = 0; j < QK / 2; j++) {
      s += ((int32_t)(blk[2 + j] & 15) - 8) * qb[j];
      s += ((int32_t)(blk[2 + j] >> 4) - 8) * qb[j + QK / 2];
    }
    acc += block_d(blk) * d[b] * (float)s;
  }
  return acc;
}

static float dot_f16_scalar(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)q;
  (void)d;
  float acc = 0.0f;
  for (size_t i = 0; i < k; i++) {
    uint16_t h;
    memcpy(&h, w + 2 * i, 2);
    acc += half_to_float(h) * x[i];
  }
  return acc;
}

#ifdef LT_X86_64

/* ---- AVX2 (+FMA, F16C) ---- */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline __m256i unpack_q4_avx2(const uint8_t *qs) {
  const __m128i b = _mm_loadu_si128((const __m128i *)qs);
  const __m128i m4 = _mm_set1_epi8(15);
  const __m128i lo = _mm_and_si128(b, m4);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), m4);
  return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

/* 8 int32 partial sums of w[i]*x[i] over 32 signed bytes. */
static inline __m256i idot32_avx2(__m256i w, __m256i x) {
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

static float dot_q8_avx2(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)x;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const size_t nb = k / QK;
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *b0 = w + b * 34, *b1 = b0 + 34;
    const __m256i s0 = idot32_avx2(_mm256_loadu_si256((const __m256i *)(b0 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    const __m256i s1 = idot32_avx2(_mm256_loadu_si256((const __m256i *)(b1 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK + QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b1) * d[b + 1]), _mm256_cvtepi32_ps(s1), acc1);
  }
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 34;
    const __m256i s0 = idot32_avx2(_mm256_loadu_si256((const __m256i *)(b0 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
  }
  return hsum256(_mm256_add_ps(acc0, acc1));
}

static float dot_q4_avx2(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)x;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const size_t nb = k / QK;
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *b0 = w + b * 18, *b1 = b0 + 18;
    const __m256i s0 = idot32_avx2(unpack_q4_avx2(b0 + 2), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    const __m256i s1 = idot32_avx2(unpack_q4_avx2(b1 + 2), _mm256_loadu_si256((const __m256i *)(q + b * QK + QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b1) * d[b + 1]), _mm256_cvtepi32_ps(s1), acc1);
  }
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 18;
    const __m256i s0 = idot32_avx2(unpack_q4_avx2(b0 + 2), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
  }
  return hsum256(_mm256_add_ps(acc0, acc1));
}

static float dot_f16_avx2(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)q;
  (void)d;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i + 16)));
    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
  }
  float acc = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < k; i++) {
    uint16_t h;
    memcpy(&h, w + 2 * i, 2);
    acc += half_to_float(h) * x[i];
  }
  return acc;
}

#pragma GCC pop_options

/* ---- AVX-512 (VNNI for the integer products, 512-bit conversions for f16) ---- */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c")

static inline __m256i idot32_vnni(__m256i w, __m256i x) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

static float dot_q8_vnni(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)x;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const size_t nb = k / QK;
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *b0 = w + b * 34, *b1 = b0 + 34;
    const __m256i s0 = idot32_vnni(_mm256_loadu_si256((const __m256i *)(b0 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    const __m256i s1 = idot32_vnni(_mm256_loadu_si256((const __m256i *)(b1 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK + QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b1) * d[b + 1]), _mm256_cvtepi32_ps(s1), acc1);
  }
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 34;
    const __m256i s0 = idot32_vnni(_mm256_loadu_si256((const __m256i *)(b0 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
  }
  return hsum256(_mm256_add_ps(acc0, acc1));
}

static float dot_q4_vnni(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)x;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const size_t nb = k / QK;
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *b0 = w + b * 18, *b1 = b0 + 18;
    const __m256i s0 = idot32_vnni(unpack_q4_avx2(b0 + 2), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    const __m256i s1 = idot32_vnni(unpack_q4_avx2(b1 + 2), _mm256_loadu_si256((const __m256i *)(q + b * QK + QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b1) * d[b + 1]), _mm256_cvtepi32_ps(s1), acc1);
  }
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 18;
    const __m256i s0 = idot32_vnni(unpack_q4_avx2(b0 + 2), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_d(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
  }
  return hsum256(_mm256_add_ps(acc0, acc1));
}

static float dot_f16_avx512(const uint8_t *w, const int8_t *q, const float *d, const float *x, size_t k) {
  (void)q;
  (void)d;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i)));
    const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i + 32)));
    acc0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i + 16 <= k; i += 16) {
    acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i))), _mm512_loadu_ps(x + i), acc0);
  }
  float acc = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < k; i++) {
    uint16_t h;
    memcpy(&h, w + 2 * i, 2);
    acc += half_to_float(h) * x[i];
  }
  return acc;
}

#pragma GCC pop_options

static int cpu_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
static int cpu_vnni(void) {
  __builtin_cpu_init();
  return cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}
#endif

/* 2 = AVX-512 VNNI, 1 = AVX2, 0 = scalar; follows the float kernels' ISA. */
static int variant(void) {
#ifdef LT_X86_64
  const char *isa = lt_get_ops()->name;
  if (strcmp(isa, "avx512") == 0 && cpu_vnni()) return 2;
  if (strcmp(isa, "scalar") != 0 && cpu_avx2()) return 1;
#endif
  return 0;
}

const char *lt_q_variant(void) {
  static const char *names[] = {"scalar", "avx2", "avx512-vnni"};
  return names[variant()];
}

static qdot_fn pick(int type) {
  const int v = variant();
#ifdef LT_X86_64
  if (v == 2) return type == LT_QT_Q8_0 ? dot_q8_vnni : type == LT_QT_Q4_0 ? dot_q4_vnni : dot_f16_avx512;
  if (v == 1) return type == LT_QT_Q8_0 ? dot_q8_avx2 : type == LT_QT_Q4_0 ? dot_q4_avx2 : dot_f16_avx2;
#else
  (void)v;
#endif
  return type == LT_QT_Q8_0 ? dot_q8_scalar : type == LT_QT_Q4_0 ? dot_q4_scalar : dot_f16_scalar;
}

/* ---- threading over weight rows ---- */

typedef struct {
  float *out;
  const float *a;
  const uint8_t *w;
  const int8_t *qa;
  const float *da;
  size_t m, n, k, row_bytes, chunk;
  qdot_fn dot;
  _Atomic size_t next;
} qjob_t;

static void q_run(void *v, int tid, int nt) {
  (void)tid;
  (void)nt;
  qjob_t *J = v;
  const size_t nb = J->k / QK;
  for (;;) {
    const size_t b = atomic_fetch_add_explicit(&J->next, J->chunk, memory_order_relaxed);
    if (b >= J->n) break;
    const size_t e = b + J->chunk < J->n ? b + J->chunk : J->n;
    /* the chunk of weight rows stays in cache while every activation row passes over it */
    for (size_t i = 0; i < J->m; i++) {
      const int8_t *qa = J->qa ? J->qa + i * J->k : NULL;
      const float *da = J->da ? J->da + i * nb : NULL;
      const float *ai = J->a + i * J->k;
      float *oi = J->out + i * J->n;
      for (size_t j = b; j < e; j++) oi[j] = J->dot(J->w + j * J->row_bytes, qa, da, ai, J->k);
    }
  }
}

#define Q_PAR_MIN ((size_t)64 * 1024)

int lt_qmatmul(float *out, const float *a, const uint8_t *w, int type, size_t m, size_t n, size_t k) {
  if (m == 0 || n == 0) return 0;
  if (k == 0) {
    memset(out, 0, m * n * sizeof(float));
    return 0;
  }
  qjob_t J;
  memset(&J, 0, sizeof J);
  J.out = out;
  J.a = a;
  J.w = w;
  J.m = m;
  J.n = n;
  J.k = k;
  J.row_bytes = lt_q_row_bytes(type, k);
  J.dot = pick(type);
  if (type != LT_QT_F16) {
    /* int8 activations then their float scales, in the caller's scratch */
    const size_t nb = k / QK;
    const size_t bytes = m * k + m * nb * sizeof(float);
    float *buf = lt_scratch(1, (bytes + sizeof(float) - 1) / sizeof(float) + 1);
    if (!buf) return -1;
    float *da = buf;
    int8_t *qa = (int8_t *)(buf + m * nb);
    for (size_t i = 0; i < m; i++) quantize_act(a + i * k, k, qa + i * k, da + i * nb);
    J.qa = qa;
    J.da = da;
  }
  const size_t work = m * n * k;
  int threads = lt_get_threads();
  if (work < 2 * Q_PAR_MIN) threads = 1;
  else if (work / Q_PAR_MIN < (size_t)threads) threads = (int)(work / Q_PAR_MIN);
  size_t chunk = 16;
  if (threads > 1 && n / ((size_t)threads * 4) < chunk) chunk = n / ((size_t)threads * 4) > 0 ? n / ((size_t)threads * 4) : 1;
  J.chunk = chunk;
  atomic_init(&J.next, 0);
  if (threads <= 1) q_run(&J, 0, 1);
  else lt_parallel(q_run, &J, threads);
  return 0;
}
