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
 * dot products: AVX-512 VNNI when the CPU has it, else AVX2 (vpmaddubsw + vpmaddwd). The
 * unsigned*signed instructions get |w| and x*sign(w) for q8_0; the VNNI q4_0 kernel multiplies
 * the unsigned nibbles directly and folds the -8 into an integer bias per lane computed once per
 * call (see qact_t). The VNNI kernels take 4 blocks per step in 512-bit registers and widen the
 * 4 f16 block scales in one permute + conversion; decoding is compute-bound on them here
 * (the per-block scalar f16 decode and 256-bit steps of an earlier version ran at ~2/3 the
 * speed for q8_0 and ~1/2 for q4_0). f16 rows are widened with F16C/AVX-512 conversions and
 * multiplied in float32 (FMA).
 * src/kernels/quant.ts holds the reference (same quantiser, same integer sums).
 *
 * The variant follows the ISA the float kernels use (lt_get_ops()->name), so setIsa() in tests
 * covers every path. Threads split the weight rows (guided pieces: par.h's par_take).
 * lt_qmatmul_multi runs several weight matrices on one prepared activation row (q/k/v, gate/up):
 * quantised once, one threaded job for all their rows.
 *
 * Many activation rows (m >= LT_Q_GEMM_MIN_ROWS: prefill, evaluation, batched scoring) take a
 * gemm path with the same numbers. q8_0, q4_0, q4_K and q5_K on AVX-512 VNNI: the 8-bit gemm
 * (i8gemm below): the activations quantised by the same quantiser (K-quants: per 256, as their
 * row path), the stored integers of 16 weight rows interleaved per 4-byte group so that one
 * vpdpbusd makes 4 products for each of 16 rows,
 * and each (activation row, block) scaled once for all 16 lanes: exact integer block dots, as
 * decoding computes them, at ~2.1x the float path's rate (1.1B shape, 1 and 2 threads). An
 * earlier note here judged an integer gemm no faster than the float one; that held for one
 * weight row per vector, where every 32-wide dot product pays its own convert and scale.
 * Everything else (f16, bf16, the other K-quants, all of them without VNNI): dequantise-on-pack into the
 * float32 packed gemm. The activations are quantised by the same quantiser and widened back to
 * float (d_a*q_a), the weight rows are widened (d_w*q_w, exact in float32) panel by panel
 * straight into the layout the sgemm packs its B operand in, and the ISA's packed micro-kernel
 * (lt_ops.ukernel) does the products: each weight is read and widened once per panel and
 * reused by every activation row. A block product is then sum_j (d_w q_w_j)(d_a q_a_j) summed
 * in float instead of d_w d_a sum_j q_w_j q_a_j summed in integers: the same value to float
 * rounding, so prefill and one-token decoding agree as closely as the f32 matmul and matvec
 * do, and both equal quantMatmulReference (8-bit activations, as llama.cpp) to float rounding.
 * Measured (stories15M shape, 1 thread, AVX-512): see bench/decode.ts and BENCHMARKS.md.
 */
#include "lt.h"
#include "par.h"
#include "quant.h"
#include "quant_k8.h"
#include "quant_bf16.h"

#define QK_K 256

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#ifdef LT_X86_64
#include <immintrin.h>
#endif

#define QK 32

static inline float half_to_float(uint16_t h) { return lt_half_to_float(h); } /* quant_k8.h */

static inline float rd_half(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return half_to_float(h);
}

/* the K-quant block decoders, portable C (see quant_k.h; instantiated again per ISA below) */
#define KQ(name) name##_scalar
#include "quant_k.h"
#undef KQ

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

/*
 * One activation row as the row products read it (prepared once per call, see prep_act):
 *   q: int8 activations in blocks of 32, d: their block scales, x: the float row (f16 weights);
 *   for the AVX-512 VNNI kernels also dx (each block scale repeated 8 times for q8_0, 4 times
 *   for q4_0: lanes of the integer sums) and, for q4_0, q reordered per group of 4 blocks
 *   (the 4 first halves, then the 4 second halves: the order the nibbles unpack in) with
 *   bias = -8 * (sum of the 8 activations each int32 lane multiplies), so that the unsigned
 *   nibbles need no sign handling and the block sums stay exact integers.
 */
typedef struct {
  const int8_t *q;
  const float *d;
  const float *x;
  const float *dx;
  const int32_t *bias;
  lt_q8k_row k8; /* K-quants (act_q8 == 2): the activation row quantised per 256 values, see quant_k8.h */
} qact_t;
#define QACT_UNPACK                                                          \
  const int8_t *q = A->q;                                                    \
  const float *d = A->d;                                                     \
  const float *x = A->x;                                                     \
  (void)q;                                                                   \
  (void)d;                                                                   \
  (void)x

/* One weight row (k values) . one activation row. */
typedef float (*qdot_fn)(const uint8_t *w, const qact_t *A, size_t k);

/* ---- portable C ---- */

static float dot_q8_scalar(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
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

static float dot_q4_scalar(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
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

/* acc + the f16 row's values i .. k-1 times x's: the f16 dots' tail (all of it for the portable one). */
static inline float f16_dot_tail(const uint8_t *w, const float *x, size_t i, size_t k, float acc) {
  for (; i < k; i++) {
    uint16_t h;
    memcpy(&h, w + 2 * i, 2);
    acc += half_to_float(h) * x[i];
  }
  return acc;
}

static float dot_f16_scalar(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  return f16_dot_tail(w, x, 0, k, 0.0f);
}

#ifdef __wasm_simd128__

/*
 * ---- WebAssembly SIMD128 (the browser build) ----
 * q8_0 / q4_0 decode: 16 int8 products per instruction pair, widened to 16 bits and summed in
 * pairs into 4 int32 lanes (i32x4.dot_i16x8_s: exact for any int8 values); each block's 4 lane
 * sums are converted and scaled in float lanes, added across lanes at the end.
 */
static inline float hsum_f32x4(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

static float dot_q8_simd128(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  v128_t acc = wasm_f32x4_splat(0.0f);
  for (size_t b = 0; b < k / QK; b++) {
    const uint8_t *blk = w + b * 34;
    const int8_t *qb = q + b * QK;
    const v128_t s = wasm_i32x4_add(lt_idot16_simd128(wasm_v128_load(blk + 2), wasm_v128_load(qb)),
                                    lt_idot16_simd128(wasm_v128_load(blk + 18), wasm_v128_load(qb + 16)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(block_d(blk) * d[b])));
  }
  return hsum_f32x4(acc);
}

/* q4_0: the nibbles (low: values 0..15, high: 16..31 of the block) minus 8, then as q8_0. */
static float dot_q4_simd128(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  const v128_t m4 = wasm_i8x16_splat(15), e8 = wasm_i8x16_splat(8);
  v128_t acc = wasm_f32x4_splat(0.0f);
  for (size_t b = 0; b < k / QK; b++) {
    const uint8_t *blk = w + b * 18;
    const int8_t *qb = q + b * QK;
    const v128_t v = wasm_v128_load(blk + 2);
    const v128_t lo = wasm_i8x16_sub(wasm_v128_and(v, m4), e8);
    const v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(v, 4), e8);
    const v128_t s = wasm_i32x4_add(lt_idot16_simd128(lo, wasm_v128_load(qb)), lt_idot16_simd128(hi, wasm_v128_load(qb + 16)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), wasm_f32x4_splat(block_d(blk) * d[b])));
  }
  return hsum_f32x4(acc);
}

/*
 * f16: 4 halves (in 32-bit lanes) to floats without a branch: the exponent and mantissa bits
 * shifted into float position and multiplied by 2^112 rebias normals and subnormals exactly;
 * the all-ones exponent (Inf / NaN) is then set to all ones in the float; the sign goes back on.
 */
static inline v128_t half4_to_f32(v128_t h) {
  const v128_t em = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x7fff)), 13);
  v128_t f = wasm_f32x4_mul(em, wasm_f32x4_splat(0x1p112f));
  f = wasm_v128_or(f, wasm_v128_and(wasm_i32x4_ge(em, wasm_i32x4_splat(0x7c00 << 13)), wasm_i32x4_splat(0x7f800000)));
  return wasm_v128_or(f, wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16));
}

static float dot_f16_simd128(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = wasm_f32x4_splat(0.0f);
  size_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const v128_t h = wasm_v128_load(w + 2 * i);
    acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(half4_to_f32(wasm_u32x4_extend_low_u16x8(h)), wasm_v128_load(x + i)));
    acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(half4_to_f32(wasm_u32x4_extend_high_u16x8(h)), wasm_v128_load(x + i + 4)));
  }
  float acc = hsum_f32x4(wasm_f32x4_add(acc0, acc1));
  return f16_dot_tail(w, x, i, k, acc);
}
#define dot_q8_portable dot_q8_simd128
#define dot_q4_portable dot_q4_simd128
#define dot_f16_portable dot_f16_simd128
#else
#define dot_q8_portable dot_q8_scalar
#define dot_q4_portable dot_q4_scalar
#define dot_f16_portable dot_f16_scalar
#endif

#ifdef LT_X86_64

/* ---- AVX2 (+FMA, F16C) ---- */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

/* A block's f16 scale through F16C (the same value as block_d). */
static inline float block_dh(const uint8_t *blk) {
  uint16_t h;
  memcpy(&h, blk, 2);
  return _cvtsh_ss(h);
}

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

static float dot_q8_avx2(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const size_t nb = k / QK;
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *b0 = w + b * 34, *b1 = b0 + 34;
    const __m256i s0 = idot32_avx2(_mm256_loadu_si256((const __m256i *)(b0 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    const __m256i s1 = idot32_avx2(_mm256_loadu_si256((const __m256i *)(b1 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK + QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_dh(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(block_dh(b1) * d[b + 1]), _mm256_cvtepi32_ps(s1), acc1);
  }
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 34;
    const __m256i s0 = idot32_avx2(_mm256_loadu_si256((const __m256i *)(b0 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_dh(b0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
  }
  return hsum256(_mm256_add_ps(acc0, acc1));
}

/* q4_0: unsigned nibbles times the activations (no sign handling), plus the per-lane bias
   -8 * (sum of the 4 activations of the lane) prepared once per call in dx (see prep_act). */
static float dot_q4_avx2(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  const int32_t *bias = (const int32_t *)A->dx;
  const __m128i m4 = _mm_set1_epi8(15);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const size_t nb = k / QK;
  size_t b = 0;
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 18;
    const __m128i by = _mm_loadu_si128((const __m128i *)(b0 + 2));
    const __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(by, 4), m4), _mm_and_si128(by, m4));
    const __m256i p16 = _mm256_maddubs_epi16(nib, _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    const __m256i s0 = _mm256_add_epi32(_mm256_madd_epi16(p16, ones), _mm256_loadu_si256((const __m256i *)(bias + b * 8)));
    const __m256 f = _mm256_cvtepi32_ps(s0), sc = _mm256_set1_ps(block_dh(b0) * d[b]);
    if (b & 1) acc1 = _mm256_fmadd_ps(sc, f, acc1);
    else acc0 = _mm256_fmadd_ps(sc, f, acc0);
  }
  return hsum256(_mm256_add_ps(acc0, acc1));
}

static float dot_f16_avx2(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i + 16)));
    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
  }
  float acc = hsum256(_mm256_add_ps(acc0, acc1));
  return f16_dot_tail(w, x, i, k, acc);
}

#pragma GCC pop_options

/* ---- AVX-512 (VNNI for the integer products, 512-bit conversions for f16) ---- */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c")

static inline __m256i idot32_vnni(__m256i w, __m256i x) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

/* 16 int32 partial sums (8 per block of 32) of w[i]*x[i] over 64 signed bytes. */
static inline __m512i idot64_vnni(__m512i w, __m512i x) {
  const __mmask64 neg = _mm512_movepi8_mask(w);
  const __m512i xs = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), xs);
}

static inline __m512i load2x32(const uint8_t *p0, const uint8_t *p1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)), _mm256_loadu_si256((const __m256i *)p1), 1);
}

/*
 * q8_0: 4 blocks (136 bytes) per step, two per 512-bit integer product; the 4 f16 scales
 * (words 0, 17, 34, 51 of the group) are gathered and widened in one go, 8 lanes each.
 */
static float dot_q8_vnni(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  const float *dx = A->dx;
  const size_t nb = k / QK;
  const __m512i sidx = _mm512_set_epi16(51, 51, 51, 51, 51, 51, 51, 51, 34, 34, 34, 34, 34, 34, 34, 34,
                                        17, 17, 17, 17, 17, 17, 17, 17, 0, 0, 0, 0, 0, 0, 0, 0);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const uint8_t *p = w + b * 34;
    const __m512i hs = _mm512_permutex2var_epi16(_mm512_loadu_si512(p), sidx, _mm512_loadu_si512(p + 64));
    const __m512 s01 = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(hs)), _mm512_loadu_ps(dx + b * 8));
    const __m512 s23 = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(hs, 1)), _mm512_loadu_ps(dx + b * 8 + 16));
    const __m512i i01 = idot64_vnni(load2x32(p + 2, p + 36), _mm512_loadu_si512(q + b * QK));
    const __m512i i23 = idot64_vnni(load2x32(p + 70, p + 104), _mm512_loadu_si512(q + b * QK + 64));
    acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i01), s01, acc0);
    acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i23), s23, acc1);
  }
  __m256 t = _mm256_setzero_ps();
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 34;
    const __m256i s0 = idot32_vnni(_mm256_loadu_si256((const __m256i *)(b0 + 2)), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    t = _mm256_fmadd_ps(_mm256_set1_ps(block_dh(b0) * d[b]), _mm256_cvtepi32_ps(s0), t);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_castps256_ps512(t))) ;
}

/*
 * q4_0: 4 blocks (72 bytes) per step: the 64 nibble bytes in one register, the unsigned low and
 * high nibbles times the reordered activations (see qact_t), the -8 offset folded in through
 * the bias; 4 lanes per block. The scales (words 0, 9, 18, 27) widen 4 lanes each.
 */
static float dot_q4_vnni(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  const float *dx = A->dx;
  const int32_t *bias = A->bias;
  const size_t nb = k / QK;
  const __m512i sidx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);
  const __m512i m4 = _mm512_set1_epi8(15);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const uint8_t *p = w + b * 18;
    const __m512i hs = _mm512_permutexvar_epi16(sidx, _mm512_loadu_si512(p));
    const __m512 s = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(hs)), _mm512_loadu_ps(dx + b * 4));
    __m512i nib = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + 2)));
    nib = _mm512_inserti32x4(nib, _mm_loadu_si128((const __m128i *)(p + 20)), 1);
    nib = _mm512_inserti32x4(nib, _mm_loadu_si128((const __m128i *)(p + 38)), 2);
    nib = _mm512_inserti32x4(nib, _mm_loadu_si128((const __m128i *)(p + 56)), 3);
    __m512i is = _mm512_dpbusd_epi32(_mm512_loadu_si512(bias + b * 4), _mm512_and_si512(nib, m4), _mm512_loadu_si512(q + b * QK));
    is = _mm512_dpbusd_epi32(is, _mm512_and_si512(_mm512_srli_epi16(nib, 4), m4), _mm512_loadu_si512(q + b * QK + 64));
    if ((b & 4) == 0) acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), s, acc0);
    else acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), s, acc1);
  }
  __m256 t = _mm256_setzero_ps();
  for (; b < nb; b++) {
    const uint8_t *b0 = w + b * 18;
    const __m256i s0 = idot32_vnni(unpack_q4_avx2(b0 + 2), _mm256_loadu_si256((const __m256i *)(q + b * QK)));
    t = _mm256_fmadd_ps(_mm256_set1_ps(block_dh(b0) * d[b]), _mm256_cvtepi32_ps(s0), t);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_castps256_ps512(t)));
}

/*
 * f16 rows stream 2 bytes per weight: besides the page-ahead prefetch of the row loop (lt.h),
 * each 64-byte step also asks for the line F16_PREFETCH bytes ahead, usually in the next row.
 * Measured (1.1B shape matvecs, 1 thread, median of 3 interleaved runs): 24.6 GB/s with neither,
 * 27.9 with this alone, 32.9 with the page-ahead alone, 37.7 with both.
 */
#define F16_PREFETCH 4096
static float dot_f16_avx512(const uint8_t *w, const qact_t *A, size_t k) {
  QACT_UNPACK;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= k; i += 32) {
    _mm_prefetch((const char *)(w + 2 * i) + F16_PREFETCH, _MM_HINT_T0);
    const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i)));
    const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i + 32)));
    acc0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i + 16 <= k; i += 16) {
    acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i))), _mm512_loadu_ps(x + i), acc0);
  }
  float acc = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  return f16_dot_tail(w, x, i, k, acc);
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

size_t lt_q_gemm_min_rows(void) { return LT_Q_GEMM_MIN_ROWS; }

const char *lt_q_variant(void) {
  static const char *names[] = {"scalar", "avx2", "avx512-vnni"};
  return names[variant()];
}

/* ---- widening for the gemm path (m >= LT_Q_GEMM_MIN_ROWS) ---- */

/*
 * Activation rows: x -> d_a * q_a with q_a, d_a from the activation quantiser above (the same
 * int8 values the block products use), written as floats. k a multiple of 32.
 */
typedef void (*act_fn)(float *dst, const float *x, size_t k);
/*
 * Weight rows: dst[r*kcb + p] = w(r, p0 + p) for r < rows, p < kcb (row r at w + r*row_bytes).
 * For q8_0/q4_0 p0 and kcb are multiples of 32.
 */
typedef void (*widen_fn)(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb);

static void act_scalar(float *dst, const float *x, size_t k) {
  int8_t q[QK];
  float d;
  for (size_t b = 0; b < k / QK; b++) {
    quantize_act(x + b * QK, QK, q, &d);
    for (int j = 0; j < QK; j++) dst[b * QK + j] = d * (float)q[j];
  }
}

static void widen_q8_scalar(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *blk = w + r * row_bytes + p0 / QK * 34;
    for (size_t b = 0; b < kcb / QK; b++, blk += 34) {
      const float d = block_d(blk);
      for (int j = 0; j < QK; j++) dst[b * QK + j] = d * (float)(int8_t)blk[2 + j];
    }
  }
}

static void widen_q4_scalar(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *blk = w + r * row_bytes + p0 / QK * 18;
    for (size_t b = 0; b < kcb / QK; b++, blk += 18) {
      const float d = block_d(blk);
      for (int j = 0; j < QK / 2; j++) {
        dst[b * QK + j] = d * (float)((int)(blk[2 + j] & 15) - 8);
        dst[b * QK + j + QK / 2] = d * (float)((int)(blk[2 + j] >> 4) - 8);
      }
    }
  }
}

static void widen_f16_scalar(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *src = w + r * row_bytes + 2 * p0;
    for (size_t p = 0; p < kcb; p++) {
      uint16_t h;
      memcpy(&h, src + 2 * p, 2);
      dst[p] = half_to_float(h);
    }
  }
}

#ifdef LT_X86_64
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

/* roundf (half away from zero) of v, |v| < 2^23: truncate, then step away if the rest is >= 0.5 */
static inline __m256 round_away_avx2(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 signbit = _mm256_set1_ps(-0.0f);
  const __m256 rest = _mm256_andnot_ps(signbit, _mm256_sub_ps(v, t));
  const __m256 step = _mm256_or_ps(_mm256_and_ps(v, signbit), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(rest, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

static void act_avx2(float *dst, const float *x, size_t k) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (size_t b = 0; b < k / QK; b++, x += QK, dst += QK) {
    __m256 v[4];
    for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
    const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
                                   _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float d = _mm_cvtss_f32(h) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 dv = _mm256_set1_ps(d), idv = _mm256_set1_ps(id);
    for (int i = 0; i < 4; i++) _mm256_storeu_ps(dst + 8 * i, _mm256_mul_ps(dv, round_away_avx2(_mm256_mul_ps(v[i], idv))));
  }
}

static void widen_q8_avx2(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *blk = w + r * row_bytes + p0 / QK * 34;
    for (size_t b = 0; b < kcb / QK; b++, blk += 34) {
      const __m256 d = _mm256_set1_ps(block_dh(blk));
      for (int i = 0; i < 4; i++) {
        const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * i)));
        _mm256_storeu_ps(dst + b * QK + 8 * i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
      }
    }
  }
}

static void widen_q4_avx2(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  const __m256i eight = _mm256_set1_epi32(8), m4 = _mm256_set1_epi32(15);
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *blk = w + r * row_bytes + p0 / QK * 18;
    for (size_t b = 0; b < kcb / QK; b++, blk += 18) {
      const __m256 d = _mm256_set1_ps(block_dh(blk));
      for (int i = 0; i < 2; i++) {
        const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * i)));
        const __m256i lo = _mm256_sub_epi32(_mm256_and_si256(bytes, m4), eight);
        const __m256i hi = _mm256_sub_epi32(_mm256_srli_epi32(bytes, 4), eight);
        _mm256_storeu_ps(dst + b * QK + 8 * i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(lo)));
        _mm256_storeu_ps(dst + b * QK + 16 + 8 * i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(hi)));
      }
    }
  }
}

static void widen_f16_avx2(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *src = w + r * row_bytes + 2 * p0;
    size_t p = 0;
    for (; p + 8 <= kcb; p += 8) _mm256_storeu_ps(dst + p, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * p))));
    for (; p < kcb; p++) {
      uint16_t h;
      memcpy(&h, src + 2 * p, 2);
      dst[p] = half_to_float(h);
    }
  }
}

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c")

static inline __m512 round_away_avx512(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 rest = _mm512_abs_ps(_mm512_sub_ps(v, t));
  /* +-1 with v's sign (integer and/or: the float forms need AVX-512 DQ) */
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
  const __m512 step = _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_castps_si512(_mm512_set1_ps(1.0f))));
  return _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(rest, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, step);
}

static void act_avx512(float *dst, const float *x, size_t k) {
  for (size_t b = 0; b < k / QK; b++, x += QK, dst += QK) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float d = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1))) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 dv = _mm512_set1_ps(d), idv = _mm512_set1_ps(id);
    _mm512_storeu_ps(dst, _mm512_mul_ps(dv, round_away_avx512(_mm512_mul_ps(v0, idv))));
    _mm512_storeu_ps(dst + 16, _mm512_mul_ps(dv, round_away_avx512(_mm512_mul_ps(v1, idv))));
  }
}

/* quantize_act with 512-bit vectors: the same amax, scale and roundf, so the same int8 values. */
static void quantize_act_avx512(const float *x, size_t k, int8_t *q, float *d) {
  for (size_t b = 0; b < k / QK; b++, x += QK, q += QK) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float db = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1))) / 127.0f;
    const __m512 idv = _mm512_set1_ps(db != 0.0f ? 1.0f / db : 0.0f);
    d[b] = db;
    _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away_avx512(_mm512_mul_ps(v0, idv)))));
    _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away_avx512(_mm512_mul_ps(v1, idv)))));
  }
}

static void widen_q8_avx512(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *blk = w + r * row_bytes + p0 / QK * 34;
    for (size_t b = 0; b < kcb / QK; b++, blk += 34) {
      const __m512 d = _mm512_set1_ps(block_dh(blk));
      const __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)));
      const __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18)));
      _mm512_storeu_ps(dst + b * QK, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q0)));
      _mm512_storeu_ps(dst + b * QK + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q1)));
    }
  }
}

static void widen_q4_avx512(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  const __m512i eight = _mm512_set1_epi32(8), m4 = _mm512_set1_epi32(15);
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *blk = w + r * row_bytes + p0 / QK * 18;
    for (size_t b = 0; b < kcb / QK; b++, blk += 18) {
      const __m512 d = _mm512_set1_ps(block_dh(blk));
      const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)));
      const __m512i lo = _mm512_sub_epi32(_mm512_and_si512(bytes, m4), eight);
      const __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(bytes, 4), eight);
      _mm512_storeu_ps(dst + b * QK, _mm512_mul_ps(d, _mm512_cvtepi32_ps(lo)));
      _mm512_storeu_ps(dst + b * QK + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(hi)));
    }
  }
}

static void widen_f16_avx512(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *src = w + r * row_bytes + 2 * p0;
    for (size_t p = 0; p < kcb; p += 16) {
      const size_t left = kcb - p;
      const __mmask16 km = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
      _mm512_mask_storeu_ps(dst + p, km, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(km, src + 2 * p)));
    }
  }
}

#pragma GCC pop_options
#endif

static act_fn pick_act(void) {
#ifdef LT_X86_64
  const int v = variant();
  if (v == 2) return act_avx512;
  if (v == 1) return act_avx2;
#endif
  return act_scalar;
}

/* ---- K-quants: super-blocks widened to float32 (quant_k.c), then float products ---- */

/*
 * Choice for the K-quants (q2_K, q3_K, q4_K, q5_K, q6_K). Decoding (few rows): integer dot
 * products with the activation row quantised to 8 bits per super-block of 256 (llama.cpp's Q8_K
 * idea; quant_k8.h, kernels per ISA in quant_k8*.c, act_q8 = 2 in the table below). Prefill: the
 * block decoders of quant_k.h (portable C, compiled and auto-vectorised once per ISA) widen the
 * weight panels into the packed sgemm (dequantise-on-pack), with the activations rounded through
 * the same 8-bit quantiser (lt_q8k_roundtrip) so prefill and decoding agree to float rounding.
 * src/kernels/quant/q4_K.ts etc. hold the reference.
 */
typedef void (*deq_fn)(const uint8_t *blk, float *y);

#ifdef LT_X86_64
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define KQ(name) name##_avx2
#include "quant_k.h"
#undef KQ

#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c")
#define KQ(name) name##_avx512
#include "quant_k.h"
#undef KQ
#pragma GCC pop_options
#endif

/* Weight rows' values [p0, p0 + kcb) as float32; p0 and kcb are whole super-blocks (qgemm's kc). */
static inline void kwiden(float *dst, const uint8_t *w, size_t row_bytes, size_t rows, size_t p0, size_t kcb, size_t bytes, deq_fn deq) {
  for (size_t r = 0; r < rows; r++, dst += kcb) {
    const uint8_t *blk = w + r * row_bytes + p0 / QK_K * bytes;
    for (size_t p = 0; p < kcb; p += QK_K, blk += bytes) deq(blk, dst + p);
  }
}

#define KQ_ISA(T, BYTES, ISA)                                                                                \
  static void widen_##T##_##ISA(float *dst, const uint8_t *w, size_t rb, size_t rows, size_t p0, size_t kcb) { \
    kwiden(dst, w, rb, rows, p0, kcb, BYTES, deq_##T##_##ISA);                                                \
  }
#ifdef LT_X86_64
#define KQ_KERNELS(T, BYTES) KQ_ISA(T, BYTES, scalar) KQ_ISA(T, BYTES, avx2) KQ_ISA(T, BYTES, avx512)
#else
#define KQ_KERNELS(T, BYTES) KQ_ISA(T, BYTES, scalar)
#endif
KQ_KERNELS(q4_K, 144)
KQ_KERNELS(q5_K, 176)
KQ_KERNELS(q6_K, 210)
KQ_KERNELS(q3_K, 110)
KQ_KERNELS(q2_K, 84)

/* ---- the per-type table (the C side of src/kernels/quant/index.ts) ---- */

/* bf16 (quant_bf16.c): float activations as they are, like f16 */
#ifdef __wasm_simd128__
static float dot_bf16_scalar(const uint8_t *w, const qact_t *A, size_t k) { return lt_bf16_dot_simd128(w, A->x, k); }
#else
static float dot_bf16_scalar(const uint8_t *w, const qact_t *A, size_t k) { return lt_bf16_dot_scalar(w, A->x, k); }
#endif
static float dot_bf16_avx2(const uint8_t *w, const qact_t *A, size_t k) { return lt_bf16_dot_avx2(w, A->x, k); }
static float dot_bf16_avx512(const uint8_t *w, const qact_t *A, size_t k) { return lt_bf16_dot_avx512(w, A->x, k); }

typedef struct {
  lt_qtype_desc desc;
  int act_q8;         /* activations: 1: 8-bit blocks of 32, 2: 8-bit super-blocks of 256 (quant_k8.h), 0: float32 as they are */
  qdot_fn dot[3];     /* per variant(): scalar, avx2, avx512-vnni */
  widen_fn widen[3];
} qtype_t;

/* K-quant products with 8-bit activations (quant_k8*.c) */
#define K8_DOT(T, ISA) \
  static float dot8_##T##_##ISA(const uint8_t *w, const qact_t *A, size_t k) { return lt_q8k_dot_##T##_##ISA(w, &A->k8, k); }
#ifdef LT_X86_64
#define K8_DOTS(T) K8_DOT(T, scalar) K8_DOT(T, avx2) K8_DOT(T, avx512)
#define K8_DOTS2(T) K8_DOT(T, scalar) K8_DOT(T, avx2) /* the AVX2 kernel on AVX-512 too */
#define dot8_q3_K_avx512 dot8_q3_K_avx2
#define dot8_q2_K_avx512 dot8_q2_K_avx2
#elif defined(__wasm_simd128__)
/* the browser build: the K-quants on SIMD128 (quant_k8_wasm.c) in the portable slot */
#define K8_DOTS(T) K8_DOT(T, simd128)
#define K8_DOTS2(T) K8_DOT(T, simd128)
#define dot8_q4_K_scalar dot8_q4_K_simd128
#define dot8_q5_K_scalar dot8_q5_K_simd128
#define dot8_q6_K_scalar dot8_q6_K_simd128
#define dot8_q3_K_scalar dot8_q3_K_simd128
#define dot8_q2_K_scalar dot8_q2_K_simd128
#else
#define K8_DOTS(T) K8_DOT(T, scalar)
#define K8_DOTS2(T) K8_DOT(T, scalar)
#endif
K8_DOTS(q4_K)
K8_DOTS(q5_K)
K8_DOTS(q6_K)
K8_DOTS2(q3_K)
K8_DOTS2(q2_K)

#ifdef LT_X86_64
#define ISA3(s, a2, a5) {s, a2, a5}
#else
#define ISA3(s, a2, a5) {s, s, s}
#endif

static const qtype_t qtypes[] = {
  {{LT_QT_F16, "f16", 1, 2}, 0, ISA3(dot_f16_portable, dot_f16_avx2, dot_f16_avx512), ISA3(widen_f16_scalar, widen_f16_avx2, widen_f16_avx512)},
  {{LT_QT_Q8_0, "q8_0", QK, 34}, 1, ISA3(dot_q8_portable, dot_q8_avx2, dot_q8_vnni), ISA3(widen_q8_scalar, widen_q8_avx2, widen_q8_avx512)},
  {{LT_QT_Q4_0, "q4_0", QK, 18}, 1, ISA3(dot_q4_portable, dot_q4_avx2, dot_q4_vnni), ISA3(widen_q4_scalar, widen_q4_avx2, widen_q4_avx512)},
  {{LT_QT_Q4_K, "q4_K", QK_K, 144}, 2, ISA3(dot8_q4_K_scalar, dot8_q4_K_avx2, dot8_q4_K_avx512), ISA3(widen_q4_K_scalar, widen_q4_K_avx2, widen_q4_K_avx512)},
  {{LT_QT_Q5_K, "q5_K", QK_K, 176}, 2, ISA3(dot8_q5_K_scalar, dot8_q5_K_avx2, dot8_q5_K_avx512), ISA3(widen_q5_K_scalar, widen_q5_K_avx2, widen_q5_K_avx512)},
  {{LT_QT_Q6_K, "q6_K", QK_K, 210}, 2, ISA3(dot8_q6_K_scalar, dot8_q6_K_avx2, dot8_q6_K_avx512), ISA3(widen_q6_K_scalar, widen_q6_K_avx2, widen_q6_K_avx512)},
  {{LT_QT_Q3_K, "q3_K", QK_K, 110}, 2, ISA3(dot8_q3_K_scalar, dot8_q3_K_avx2, dot8_q3_K_avx512), ISA3(widen_q3_K_scalar, widen_q3_K_avx2, widen_q3_K_avx512)},
  {{LT_QT_Q2_K, "q2_K", QK_K, 84}, 2, ISA3(dot8_q2_K_scalar, dot8_q2_K_avx2, dot8_q2_K_avx512), ISA3(widen_q2_K_scalar, widen_q2_K_avx2, widen_q2_K_avx512)},
  {{LT_QT_BF16, "bf16", 1, 2}, 0, ISA3(dot_bf16_scalar, dot_bf16_avx2, dot_bf16_avx512), ISA3(lt_bf16_widen_scalar, lt_bf16_widen_avx2, lt_bf16_widen_avx512)},
};

static const qtype_t *qtype(int id) {
  for (size_t i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++)
    if (qtypes[i].desc.id == id) return &qtypes[i];
  return NULL;
}

const lt_qtype_desc *lt_q_type(int id) {
  const qtype_t *T = qtype(id);
  return T ? &T->desc : NULL;
}

size_t lt_q_row_bytes(int type, size_t k) {
  const qtype_t *T = qtype(type);
  if (!T || k % T->desc.block) return 0;
  return k / T->desc.block * T->desc.bytes;
}

/* ---- the gemm path: packed activations, weight panels widened on packing ---- */


typedef struct {
  const lt_ops *o;
  float *out;
  const float *a;
  const uint8_t *w;
  size_t m, n, k, row_bytes;
  size_t mp;            /* m rounded up to the micro-tile rows */
  size_t kc, mc;        /* depth block, row block */
  size_t chunk_rows;    /* weight rows per task (a multiple of nr) */
  size_t nchunks, msplit;
  size_t act_rows;      /* activation rows per preparation task (a multiple of mr) */
  float *apack;         /* per depth block p0: all mp rows packed, at apack + p0*mp */
  act_fn act;           /* NULL: f16 weights, activations used as they are */
  widen_fn widen;
  _Atomic size_t next;
  _Atomic int oom;
} qgemm_t;

/* Preparation: activation rows [r0, r0 + act_rows) -> (8-bit round trip) -> packed into apack. */
static void qgemm_prep(void *v, int tid, int nt) {
  (void)tid;
  (void)nt;
  qgemm_t *G = v;
  const lt_ops *o = G->o;
  for (;;) {
    const size_t r0 = atomic_fetch_add_explicit(&G->next, G->act_rows, memory_order_relaxed);
    if (r0 >= G->m) break;
    const size_t rows = zmin(G->act_rows, G->m - r0);
    const float *src = G->a + r0 * G->k;
    if (G->act) {
      float *tmp = lt_scratch(0, rows * G->k);
      if (!tmp) {
        atomic_store(&G->oom, 1);
        continue;
      }
      for (size_t i = 0; i < rows; i++) G->act(tmp + i * G->k, src + i * G->k, G->k);
      src = tmp;
    }
    for (size_t p0 = 0; p0 < G->k; p0 += G->kc) {
      const size_t kcb = zmin(G->kc, G->k - p0);
      o->pack_a(G->apack + p0 * G->mp + r0 * kcb, src + p0, G->k, rows, kcb);
    }
  }
}

/* A task: weight rows of one chunk x one share of the activation rows. */
static void qgemm_run(void *v, int tid, int nt) {
  (void)tid;
  (void)nt;
  qgemm_t *G = v;
  const lt_ops *o = G->o;
  const size_t mr = o->mr, nr = o->nr;
  const size_t mpanels = G->mp / mr;
  float *bpack = NULL, *tmp = NULL;
  for (;;) {
    const size_t t = atomic_fetch_add_explicit(&G->next, 1, memory_order_relaxed);
    if (t >= G->nchunks * G->msplit) break;
    if (!bpack) {
      bpack = lt_scratch(0, (G->chunk_rows + nr) * G->kc);
      if (!bpack) {
        atomic_store(&G->oom, 1);
        break;
      }
      tmp = bpack + G->chunk_rows * G->kc;
    }
    const size_t c = t / G->msplit, s = t % G->msplit;
    const size_t j0 = c * G->chunk_rows, nrows = zmin(G->chunk_rows, G->n - j0);
    const size_t i_begin = mpanels * s / G->msplit * mr, i_end = zmin(G->m, mpanels * (s + 1) / G->msplit * mr);
    const size_t panels = cdiv(nrows, nr);
    for (size_t p0 = 0; p0 < G->k; p0 += G->kc) {
      const size_t kcb = zmin(G->kc, G->k - p0);
      for (size_t jp = 0; jp < panels; jp++) {
        const size_t jr = zmin(nr, nrows - jp * nr);
        G->widen(tmp, G->w + (j0 + jp * nr) * G->row_bytes, G->row_bytes, jr, p0, kcb);
        o->pack_b(bpack + jp * nr * kcb, tmp, kcb, jr, kcb);
      }
      const float *ap = G->apack + p0 * G->mp;
      for (size_t i0 = i_begin; i0 < i_end; i0 += G->mc) {
        const size_t i1 = zmin(i_end, i0 + G->mc);
        for (size_t jp = 0; jp < panels; jp++) {
          const size_t nre = zmin(nr, nrows - jp * nr);
          const float *bp = bpack + jp * nr * kcb;
          float *cb = G->out + j0 + jp * nr;
          for (size_t ir = i0; ir < i1; ir += mr)
            o->ukernel(kcb, ap + ir * kcb, bp, cb + ir * G->n, G->n, p0 > 0, zmin(mr, G->m - ir), nre);
        }
      }
    }
  }
}

/*
 * 1: activations (8-bit round trip when `act_q8`) packed once, for depth blocks of kc, into the
 * caller's scratch: every weight matrix of the same (act_q8, kc) reuses them (lt_qmatmul_multi).
 */
static int qgemm_prepare(qgemm_t *G, const float *a, size_t m, size_t k, int act_q8, size_t kc, int threads) {
  const lt_ops *o = lt_get_ops();
  memset(G, 0, sizeof *G);
  G->o = o;
  G->a = a;
  G->m = m;
  G->k = k;
  G->mp = cdiv(m, o->mr) * o->mr;
  G->kc = kc;
  G->mc = (o->mc / o->mr) * o->mr;
  G->act = act_q8 == 2 ? lt_q8k_roundtrip : act_q8 ? pick_act() : NULL;
  G->apack = lt_scratch(1, G->mp * k);
  if (!G->apack) return -1;
  atomic_init(&G->oom, 0);
  G->act_rows = cdiv(cdiv(m, (size_t)threads * 2), o->mr) * o->mr;
  atomic_init(&G->next, 0);
  if (threads <= 1) qgemm_prep(G, 0, 1);
  else lt_parallel(qgemm_prep, G, threads);
  return atomic_load(&G->oom) ? -1 : 0;
}

/* Depth block of `type` on the gemm path: the ISA's kc (256 in every table) rounded to whole weight blocks. */
static size_t qgemm_kc(const qtype_t *T) {
  const size_t kc = lt_get_ops()->kc / T->desc.block * T->desc.block;
  return kc ? kc : T->desc.block;
}

/*
 * 2: weight chunks of up to 4 panels (widened + packed: 128 rows x 256 depth = 128 KiB in
 * L2 on AVX-512), each panel staying in L1 while a row block of activations passes over it.
 * With threads, chunks shrink and the activation rows split until there are ~4 tasks per
 * thread (each split widens its chunk again: O(n*k) against O(m*n*k) products).
 */
static int qgemm_product(qgemm_t *G, float *out, const uint8_t *w, const qtype_t *T, size_t n, int threads) {
  const lt_ops *o = G->o;
  G->out = out;
  G->w = w;
  G->n = n;
  G->row_bytes = lt_q_row_bytes(T->desc.id, G->k);
  G->widen = T->widen[variant()];
  const size_t npanels = cdiv(n, o->nr), mpanels = G->mp / o->mr;
  size_t cp = 4;
  if (threads > 1) {
    const size_t want = (size_t)threads * 4;
    while (cp > 1 && cdiv(npanels, cp) < want) cp /= 2;
  }
  G->chunk_rows = cp * o->nr;
  G->nchunks = cdiv(n, G->chunk_rows);
  G->msplit = 1;
  if (threads > 1 && G->nchunks < (size_t)threads * 4) {
    G->msplit = cdiv((size_t)threads * 4, G->nchunks);
    const size_t most = mpanels / 4 > 0 ? mpanels / 4 : 1; /* at least 4 micro-tiles of rows each */
    if (G->msplit > most) G->msplit = most;
  }
  atomic_init(&G->next, 0);
  if (threads <= 1) qgemm_run(G, 0, 1);
  else lt_parallel(qgemm_run, G, threads);
  return atomic_load(&G->oom) ? -1 : 0;
}

/* ---- the 8-bit gemm (AVX-512 VNNI): q8_0 / q4_0 prefill in integers, as decoding computes ---- */
/*
 * On CPUs with AVX-512 VNNI, q8_0, q4_0, q4_K and q5_K products of several rows skip the float
 * widening and multiply the stored integers by the activations quantised to 8 bits (the same
 * int8 values and scales as the row path: quantize_act per 32; lt_q8k_quantize per 256 for q4_K):
 *
 *   out[i][j] = sum_b (dw[j][b] * da[i][b]) * sum_{e<32} (u[j][32b+e] - off) * qa[i][32b+e]
 *               - (q4_K, q5_K) sum_b mw[j][b] * da[i][b] * sum_{e<32} qa[i][32b+e]
 *
 * with u the weights made unsigned (q8_0: q + 128, off = 128; q4_0: the nibbles 0..15, off = 8;
 * q4_K / q5_K: the 4- / 5-bit values, off = 0, dw = d * sc_j and mw = dmin * m_j of the 32-value
 * sub-block).
 * vpdpbusd adds 4 (unsigned byte x signed byte) products into each int32 lane; a weight panel
 * interleaves 16 rows so that lane r of one product belongs to row j0 + r:
 *
 *   panel[b][t][r][0..3] = u[j0 + r][32b + 4t .. 32b + 4t + 3]     (t < 8, r < 16: 512 bytes/block)
 *
 * and the activation's bytes 32b + 4t .. + 3 are broadcast to every lane. Each block's int32 sum
 * starts at -off * sum(qa block), so it ends at the exact integer block dot; then
 * acc[r] += (dw[r] * da) * float(sum), block after block. 16 x 32 products take 8 vpdpbusd
 * instead of 32 float FMAs, which is what makes llama.cpp's q4_0 prefill fast too.
 * Panels are packed per task (16-lane gathers), and stay in L1/L2 while the rows pass.
 */
#define I8_NR 16  /* weight rows per panel: one 512-bit lane each */
#define I8_MR 8   /* activation rows per micro-tile */
#define I8_MB 64  /* activation rows per pass over a chunk of panels (64 x k bytes in L2) */

typedef struct {
  float *out;
  const uint8_t *w;
  int type;
  size_t m, n, k, nb, row_bytes, block_bytes;
  const int8_t *aq;  /* m x k int8 activations */
  const float *ad;   /* m x nb block scales */
  const int32_t *as; /* m x nb block sums */
  int kmin;          /* q4_K, q5_K: per-block float mins (the panel's third part), off = 0 */
  size_t chunk_panels, nchunks, msplit;
  _Atomic size_t next;
  _Atomic int oom;
} i8gemm_t;

#ifdef LT_X86_64
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c")

/*
 * q4_K's and q5_K's panels: super-block sb holds sub-blocks j = 8sb .. 8sb+7 of 32 values;
 * sub-blocks 2p and 2p+1 are the low and high nibbles of qs[32p .. 32p+31] (q5_K: plus bit j of
 * qh[e] as the value's bit 4); S gets d*sc_j, Mn gets dmin*m_j.
 */
static void i8_pack_q4k(uint8_t *P, float *S, float *Mn, const uint8_t *w, size_t row_bytes, size_t rows, size_t nb, int type) {
  const __mmask16 live = (__mmask16)((1u << rows) - 1u);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)row_bytes));
  const __m512i zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(15), bit4 = _mm512_set1_epi8(16);
  const int q5 = type == LT_QT_Q5_K;
  const size_t bbytes = q5 ? 176 : 144, qs = q5 ? 48 : 16;
  for (size_t sb = 0; sb < nb / 8; sb++) {
    const uint8_t *blk = w + sb * bbytes;
    for (int p = 0; p < 4; p++) {
      __m512i *lo = (__m512i *)(P + (sb * 8 + 2 * p) * 512), *hi = lo + 8;
      for (int t = 0; t < 8; t++) {
        const __m512i v = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk + qs + 32 * p + 4 * t, 1);
        __m512i l = _mm512_and_si512(v, m4), h = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        if (q5) {
          /* the 5th bits: bit j of qh[e] for element e of sub-block j (2p: low nibbles, 2p+1: high) */
          const __m512i b = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk + 16 + 4 * t, 1);
          l = _mm512_or_si512(l, _mm512_and_si512(_mm512_slli_epi16(_mm512_srli_epi16(b, 2 * p), 4), bit4));
          h = _mm512_or_si512(h, _mm512_and_si512(_mm512_slli_epi16(_mm512_srli_epi16(b, 2 * p + 1), 4), bit4));
        }
        _mm512_store_si512(lo + t, l);
        _mm512_store_si512(hi + t, h);
      }
    }
    for (size_t r = 0; r < 16; r++) {
      float d = 0.0f, dmin = 0.0f;
      int sc[8] = {0}, mn[8] = {0};
      if (r < rows) { /* padding rows: zero scales and mins */
        const uint8_t *rb = blk + r * row_bytes;
        d = rd_half(rb);
        dmin = rd_half(rb + 2);
        for (int j = 0; j < 8; j++) scale_min_k4_avx512(j, rb + 4, &sc[j], &mn[j]);
      }
      for (int j = 0; j < 8; j++) {
        S[(sb * 8 + j) * 16 + r] = d * (float)sc[j];
        Mn[(sb * 8 + j) * 16 + r] = dmin * (float)mn[j];
      }
    }
  }
}

/* Packs weight rows [0, rows) (rows <= 16) of all nb blocks into panel P (nb * 512 bytes) and S (nb * 16 scales). */
static void i8_pack(uint8_t *P, float *S, const uint8_t *w, size_t row_bytes, size_t block_bytes, size_t rows, size_t nb, int type) {
  const __mmask16 live = (__mmask16)((1u << rows) - 1u);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)row_bytes));
  const __m512i zero = _mm512_setzero_si512(), flip = _mm512_set1_epi8((char)0x80), m4 = _mm512_set1_epi8(15);
  for (size_t b = 0; b < nb; b++) {
    const uint8_t *blk = w + b * block_bytes;
    __m512i *pb = (__m512i *)(P + b * 512);
    const __m512i h = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk, 1);
    _mm512_store_ps(S + b * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)));
    if (type == LT_QT_Q8_0) {
      for (int t = 0; t < 8; t++) {
        const __m512i v = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk + 2 + 4 * t, 1);
        _mm512_store_si512(pb + t, _mm512_xor_si512(v, flip));
      }
    } else if (type == LT_QT_Q4_0) {
      for (int t = 0; t < 4; t++) {
        const __m512i v = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk + 2 + 4 * t, 1);
        _mm512_store_si512(pb + t, _mm512_and_si512(v, m4));
        _mm512_store_si512(pb + 4 + t, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
      }
    }
  }
}

/* MR activation rows x one 16-row panel over all nb blocks; `cols` masks the panel's live rows. */
static inline __attribute__((always_inline)) void i8_tile(const int MR, const int KMIN, const uint8_t *P, const float *S, const float *Mn,
                                                          size_t nb, size_t k, const int8_t *aq, const float *ad, const int32_t *as,
                                                          int off, float *out, size_t ldo, __mmask16 cols) {
  __m512 acc[I8_MR];
  for (int i = 0; i < MR; i++) acc[i] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; b++) {
    const __m512i *W = (const __m512i *)(P + b * 512);
    __m512i sum[I8_MR];
    for (int i = 0; i < MR; i++) sum[i] = _mm512_set1_epi32(-off * as[i * nb + b]);
    for (int t = 0; t < 8; t++) {
      const __m512i wt = _mm512_load_si512(W + t);
      for (int i = 0; i < MR; i++) {
        int32_t a4;
        memcpy(&a4, aq + i * k + b * QK + 4 * t, 4);
        sum[i] = _mm512_dpbusd_epi32(sum[i], wt, _mm512_set1_epi32(a4));
      }
    }
    const __m512 dw = _mm512_load_ps(S + b * 16);
    for (int i = 0; i < MR; i++) acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[i]), _mm512_mul_ps(dw, _mm512_set1_ps(ad[i * nb + b])), acc[i]);
    if (KMIN) {
      const __m512 mw = _mm512_load_ps(Mn + b * 16);
      for (int i = 0; i < MR; i++) acc[i] = _mm512_fnmadd_ps(mw, _mm512_set1_ps(ad[i * nb + b] * (float)as[i * nb + b]), acc[i]);
    }
  }
  for (int i = 0; i < MR; i++) _mm512_mask_storeu_ps(out + i * ldo, cols, acc[i]);
}

static void i8_run(void *v, int tid, int nt) {
  (void)tid;
  (void)nt;
  i8gemm_t *G = v;
  const size_t nb = G->nb, k = G->k, pbytes = nb * 512 + (G->kmin ? 2 : 1) * nb * 16 * sizeof(float);
  const int off = G->type == LT_QT_Q8_0 ? 128 : G->type == LT_QT_Q4_0 ? 8 : 0;
  const size_t mtiles = cdiv(G->m, I8_MR);
  uint8_t *pack = NULL;
  for (;;) {
    const size_t t = atomic_fetch_add_explicit(&G->next, 1, memory_order_relaxed);
    if (t >= G->nchunks * G->msplit) break;
    if (!pack) {
      pack = (uint8_t *)lt_scratch(0, G->chunk_panels * pbytes / sizeof(float) + 16);
      if (!pack) {
        atomic_store(&G->oom, 1);
        break;
      }
    }
    const size_t c = t / G->msplit, sp = t % G->msplit;
    const size_t j0 = c * G->chunk_panels * I8_NR, nrows = zmin(G->chunk_panels * I8_NR, G->n - j0);
    const size_t panels = cdiv(nrows, I8_NR);
    for (size_t p = 0; p < panels; p++) {
      const size_t rows = zmin(I8_NR, nrows - p * I8_NR);
      uint8_t *P = pack + p * pbytes;
      const uint8_t *wp = G->w + (j0 + p * I8_NR) * G->row_bytes;
      if (G->kmin) i8_pack_q4k(P, (float *)(P + nb * 512), (float *)(P + nb * 512) + nb * 16, wp, G->row_bytes, rows, nb, G->type);
      else i8_pack(P, (float *)(P + nb * 512), wp, G->row_bytes, G->block_bytes, rows, nb, G->type);
    }
    const size_t i_begin = mtiles * sp / G->msplit * I8_MR, i_end = zmin(G->m, mtiles * (sp + 1) / G->msplit * I8_MR);
    for (size_t i0 = i_begin; i0 < i_end; i0 += I8_MB) {
      const size_t i1 = zmin(i_end, i0 + I8_MB);
      for (size_t p = 0; p < panels; p++) {
        const uint8_t *P = pack + p * pbytes;
        const float *S = (const float *)(P + nb * 512), *Mn = S + nb * 16;
        const size_t rows = zmin(I8_NR, nrows - p * I8_NR);
        const __mmask16 cols = (__mmask16)((1u << rows) - 1u);
        float *o = G->out + j0 + p * I8_NR;
        for (size_t i = i0; i < i1; i += I8_MR) {
          const int8_t *aq = G->aq + i * k;
          const float *ad = G->ad + i * nb;
          const int32_t *as = G->as + i * nb;
          float *oi = o + i * G->n;
          switch (zmin(I8_MR, i1 - i)) {
            case 8: if (G->kmin) i8_tile(8, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(8, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
            case 7: if (G->kmin) i8_tile(7, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(7, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
            case 6: if (G->kmin) i8_tile(6, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(6, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
            case 5: if (G->kmin) i8_tile(5, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(5, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
            case 4: if (G->kmin) i8_tile(4, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(4, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
            case 3: if (G->kmin) i8_tile(3, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(3, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
            case 2: if (G->kmin) i8_tile(2, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(2, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
            default: if (G->kmin) i8_tile(1, 1, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); else i8_tile(1, 0, P, S, Mn, nb, k, aq, ad, as, off, oi, G->n, cols); break;
          }
        }
      }
    }
  }
}

/* The activation rows' preparation, threaded over rows (see i8_prepare). */
typedef struct {
  const i8gemm_t *G;
  const float *a;
  int8_t *q;
  float *d;
  int32_t *sums;
  _Atomic size_t next;
  _Atomic int oom;
} i8prep_t;

static void i8_prep_rows(void *v, int tid, int nt) {
  (void)tid;
  (void)nt;
  i8prep_t *R = v;
  const size_t k = R->G->k, nb = R->G->nb;
  uint8_t *tmp = NULL;
  for (;;) {
    const size_t i = atomic_fetch_add_explicit(&R->next, 1, memory_order_relaxed);
    if (i >= R->G->m) break;
    int8_t *q = R->q + i * k;
    float *d = R->d + i * nb;
    int32_t *sums = R->sums + i * nb;
    if (R->G->kmin) {
      if (!tmp && !(tmp = (uint8_t *)lt_scratch(0, lt_q8k_row_bytes(k) / sizeof(float) + 16))) {
        atomic_store(&R->oom, 1);
        break;
      }
      lt_q8k_row row;
      lt_q8k_quantize(R->a + i * k, k, tmp, &row);
      memcpy(q, row.q, k);
      for (size_t b = 0; b < nb; b++) {
        d[b] = row.d[b / 8];
        sums[b] = (int32_t)row.bsums[2 * b] + row.bsums[2 * b + 1];
      }
    } else {
      quantize_act_avx512(R->a + i * k, k, q, d);
      for (size_t b = 0; b < nb; b++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(q + b * QK));
        /* sum of 32 int8: sad against zero on the biased bytes, minus the bias */
        const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
        sums[b] = (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
      }
    }
  }
}

/*
 * Quantises a[m x k] into the caller's scratch (slot 1) as i8gemm reads it: int8 values, one
 * scale and one integer sum per 32-value block. q8_0 / q4_0 (kmin = 0): quantize_act per 32, the
 * row path's quantiser. q4_K / q5_K (kmin = 1): lt_q8k_quantize per 256 as the K-quant row path
 * does (so prefill and decoding see the same integers), each 32-block taking its super-block's
 * scale and its sum from two 16-value bsums. -1 when out of memory.
 */
static int i8_prepare(i8gemm_t *G, const float *a, size_t m, size_t k, int kmin) {
  const size_t nb = k / QK;
  const size_t qbytes = (m * k + 63) & ~(size_t)63;
  uint8_t *buf = (uint8_t *)lt_scratch(1, (qbytes + 2 * m * nb * 4) / sizeof(float) + 1);
  if (!buf) return -1;
  memset(G, 0, sizeof *G);
  G->m = m;
  G->k = k;
  G->nb = nb;
  G->kmin = kmin;
  i8prep_t R = {G, a, (int8_t *)buf, (float *)(buf + qbytes), NULL, 0, 0};
  R.sums = (int32_t *)(R.d + m * nb);
  atomic_init(&R.next, 0);
  atomic_init(&R.oom, 0);
  const int threads = threads_for(m * k, PAR_MIN_ELEMS);
  if (threads <= 1) i8_prep_rows(&R, 0, 1);
  else lt_parallel(i8_prep_rows, &R, threads);
  G->aq = R.q;
  G->ad = R.d;
  G->as = R.sums;
  return atomic_load(&R.oom) ? -1 : 0;
}

#pragma GCC pop_options

/* out[m x n] = a . w^T on the 8-bit gemm for a prepared G (i8_prepare); -1 when out of memory. */
static int i8_product(i8gemm_t *G, float *out, const uint8_t *w, int type, size_t n, int threads) {
  G->out = out;
  G->w = w;
  G->type = type;
  G->n = n;
  G->row_bytes = lt_q_row_bytes(type, G->k);
  G->block_bytes = type == LT_QT_Q8_0 ? 34 : type == LT_QT_Q4_0 ? 18 : type == LT_QT_Q4_K ? 144 : 176;
  const size_t npanels = cdiv(n, I8_NR), mtiles = cdiv(G->m, I8_MR);
  /* chunks of up to 128 KiB of packed panels, fewer when threads need more tasks */
  size_t cp = zmax(1, zmin(4, ((size_t)128 << 10) / (G->nb * (G->kmin ? 640 : 576))));
  if (threads > 1) {
    const size_t want = (size_t)threads * 4;
    while (cp > 1 && cdiv(npanels, cp) < want) cp /= 2;
  }
  G->chunk_panels = cp;
  G->nchunks = cdiv(npanels, cp);
  G->msplit = 1;
  if (threads > 1 && G->nchunks < (size_t)threads * 4) {
    G->msplit = cdiv((size_t)threads * 4, G->nchunks);
    const size_t most = mtiles / 4 > 0 ? mtiles / 4 : 1;
    if (G->msplit > most) G->msplit = most;
  }
  atomic_init(&G->next, 0);
  atomic_init(&G->oom, 0);
  if (threads <= 1) i8_run(G, 0, 1);
  else lt_parallel(i8_run, G, threads);
  return atomic_load(&G->oom) ? -1 : 0;
}
#endif

/* Whether the 8-bit gemm takes weights of `type` here (q8_0 / q4_0 / q4_K / q5_K on AVX-512 VNNI; LLAMA_TS_I8GEMM=0 turns it off). */
static int i8_takes(int type) {
#ifdef LT_X86_64
  static int enabled = -1;
  if (enabled < 0) {
    const char *e = getenv("LLAMA_TS_I8GEMM");
    enabled = !(e && strcmp(e, "0") == 0);
  }
  return enabled && (type == LT_QT_Q8_0 || type == LT_QT_Q4_0 || type == LT_QT_Q4_K || type == LT_QT_Q5_K) && variant() == 2;
#else
  (void)type;
  return 0;
#endif
}

/* ---- row by row: block dot products, threads over weight rows ---- */

/* Bytes of one prepared activation row (q, d, dx, bias; each part 64-byte aligned). */
static inline size_t al64(size_t x) { return (x + 63) & ~(size_t)63; }
static size_t act_row_bytes(size_t k) {
  const size_t nb = k / QK;
  return al64(k) + al64(nb * sizeof(float)) + al64(nb * 8 * sizeof(float)) + al64(nb * 4 * sizeof(int32_t));
}

/* Quantises activation row x into the prepared row at base (layout of act_row_bytes) for variant v. */
static void prep_act(int v, int type, const float *x, size_t k, uint8_t *base, qact_t *A) {
  const size_t nb = k / QK;
  int8_t *q = (int8_t *)base;
  float *d = (float *)(base + al64(k));
  float *dx = (float *)((uint8_t *)d + al64(nb * sizeof(float)));
  int32_t *bias = (int32_t *)((uint8_t *)dx + al64(nb * 8 * sizeof(float)));
  A->q = q;
  A->d = d;
  A->x = x;
  A->dx = dx;
  A->bias = bias;
#ifdef LT_X86_64
  if (v == 2) {
    quantize_act_avx512(x, k, q, d);
    if (type == LT_QT_Q8_0) {
      for (size_t b = 0; b < nb; b++)
        for (int l = 0; l < 8; l++) dx[b * 8 + l] = d[b];
      return;
    }
    for (size_t b = 0; b < nb; b++)
      for (int l = 0; l < 4; l++) dx[b * 4 + l] = d[b];
    /* full groups of 4 blocks: first halves then second halves; lane l of a group's integer sum covers
       elements 4(l%4)..+3 and 16+4(l%4)..+3 of its block l/4 */
    for (size_t g = 0; g + 4 <= nb; g += 4) {
      int8_t t[4 * QK];
      memcpy(t, q + g * QK, sizeof t);
      for (int i = 0; i < 4; i++) {
        memcpy(q + g * QK + 16 * i, t + QK * i, 16);
        memcpy(q + g * QK + 64 + 16 * i, t + QK * i + 16, 16);
      }
      for (int l = 0; l < 16; l++) {
        const int8_t *xb = t + QK * (l / 4) + 4 * (l % 4);
        int32_t sum = 0;
        for (int j = 0; j < 4; j++) sum += xb[j] + xb[16 + j];
        bias[g * 4 + l] = -8 * sum;
      }
    }
    return;
  }
#endif
  quantize_act(x, k, q, d);
  if (v == 1 && type == LT_QT_Q4_0) {
    int32_t *b8 = (int32_t *)dx; /* AVX2 q4_0: lane l of block b covers elements 4l..4l+3 */
    for (size_t i = 0; i < nb * 8; i++) b8[i] = -8 * (q[4 * i] + q[4 * i + 1] + q[4 * i + 2] + q[4 * i + 3]);
  }
}

/*
 * How a weight type reads its activation rows on the row path: as float32 (f16, K-quants), or
 * quantised to 8 bits with the q8_0 or the q4_0 extras (dx, bias, reordering: see qact_t).
 */
enum { ACT_FLOAT, ACT_Q8, ACT_Q4, ACT_K8, ACT_KINDS };
static int act_kind(const qtype_t *T) {
  return !T->act_q8 ? ACT_FLOAT : T->act_q8 == 2 ? ACT_K8 : T->desc.id == LT_QT_Q4_0 ? ACT_Q4 : ACT_Q8;
}

/* Up to this many weight matrices in one lt_qmatmul_multi job (more are run in several jobs). */
#define Q_MULTI_MAX 8

typedef struct {
  float *out;
  const uint8_t *w;
  size_t n, row_bytes;
  size_t row0;       /* first row in the job's concatenated row space */
  qdot_fn dot;
  const qact_t *act; /* m prepared rows of this matrix's kind */
} qmat_job;

typedef struct {
  qmat_job mats[Q_MULTI_MAX];
  size_t count, m, k, rows, grain;
  size_t caller_units; /* rows tid 0 ran (only tid 0 writes it) */
  _Alignas(64) _Atomic size_t next;
} qjob_t;

/* Rows [b, e) of the concatenated row space: the weight rows stay in cache while every activation row passes over them. */
static void q_rows(const qjob_t *J, size_t b, size_t e) {
  size_t i = 0;
  const uintptr_t ahead = lt_page_ahead();
  while (J->mats[i].row0 + J->mats[i].n <= b) i++;
  for (; b < e; i++) {
    const qmat_job *M = &J->mats[i];
    const size_t j0 = b - M->row0, j1 = zmin(e - M->row0, M->n);
    /* the first activation row's pass streams the weights from memory: pages ahead asked for row by row (lt.h) */
    const uintptr_t end = (uintptr_t)(M->w + M->n * M->row_bytes);
    uintptr_t next = ahead ? lt_page_up(M->w + j0 * M->row_bytes) : end;
    for (size_t r = 0; r < J->m; r++) {
      const qact_t *A = M->act + r;
      float *o = M->out + r * M->n;
      for (size_t j = j0; j < j1; j++) {
        next = lt_pages_ahead(next, (uintptr_t)(M->w + (j + 1) * M->row_bytes) + ahead, end);
        o[j] = M->dot(M->w + j * M->row_bytes, A, J->k);
      }
      next = end;
    }
    b = M->row0 + j1;
  }
}

static void q_run(void *v, int tid, int nt) {
  qjob_t *J = v;
  for (;;) {
    size_t e = 0;
    const size_t b = par_take(&J->next, J->rows, J->grain, nt, &e);
    if (b >= J->rows) break;
    q_rows(J, b, e);
    if (tid == 0) J->caller_units += e - b;
  }
}

/*
 * Threads for `bytes` of weights read once (the row path streams weights: decode is bandwidth
 * bound): each thread must get at least Q_PAR_MIN_BYTES, or handing work over (waking a worker,
 * the shared counter, moving the output lines) costs more than it saves. Measured here (q8_0,
 * AVX-512, 2 cores): 768x288 (235 KB) is no faster on 2 threads; from ~1 MB on it is.
 */
#define Q_PAR_MIN_BYTES ((size_t)256 * 1024)

static int q_threads(size_t work_bytes) {
  const int t = lt_get_threads();
  if (t <= 1 || work_bytes < 2 * Q_PAR_MIN_BYTES) return 1;
  const size_t by = work_bytes / Q_PAR_MIN_BYTES;
  return by < (size_t)t ? (int)by : t;
}

/* The row path for up to Q_MULTI_MAX matrices (m < LT_Q_GEMM_MIN_ROWS): each activation kind prepared once. */
static int q_rows_multi(const lt_qmat *mats, size_t count, const float *a, size_t m, size_t k) {
  qact_t act[ACT_KINDS][LT_Q_GEMM_MIN_ROWS];
  int have[ACT_KINDS] = {0};
  const int v = variant();
  const size_t rb = act_row_bytes(k);
  uint8_t *buf = NULL;
  qjob_t J;
  memset(&J, 0, sizeof J);
  J.count = count;
  J.m = m;
  J.k = k;
  size_t bytes = 0, rb_max = 0;
  for (size_t i = 0; i < count; i++) {
    const qtype_t *T = qtype(mats[i].type);
    const int kind = act_kind(T);
    if (!have[kind]) {
      have[kind] = 1;
      if (kind == ACT_FLOAT) {
        for (size_t r = 0; r < m; r++) act[kind][r] = (qact_t){NULL, NULL, a + r * k, NULL, NULL, {NULL, NULL, NULL}};
      } else {
        /* prepared activation rows in the caller's scratch: one region per 8-bit kind */
        /* prepared activation rows in the caller's scratch: one region per 8-bit kind (q8_0, q4_0, q8_K) */
        const size_t rbk = lt_q8k_row_bytes(k);
        if (!buf) {
          buf = (uint8_t *)lt_scratch(1, (2 * m * rb + m * rbk + 64) / sizeof(float) + 1);
          if (!buf) return -1;
          buf = (uint8_t *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
        }
        if (kind == ACT_K8) {
          uint8_t *base = buf + 2 * m * rb;
          for (size_t r = 0; r < m; r++) {
            act[kind][r] = (qact_t){NULL, NULL, a + r * k, NULL, NULL, {NULL, NULL, NULL}};
            lt_q8k_quantize(a + r * k, k, base + r * rbk, &act[kind][r].k8);
          }
        } else {
          uint8_t *base = buf + (kind == ACT_Q4 ? m * rb : 0);
          for (size_t r = 0; r < m; r++) prep_act(v, mats[i].type, a + r * k, k, base + r * rb, &act[kind][r]);
        }
      }
    }
    qmat_job *M = &J.mats[i];
    M->out = mats[i].out;
    M->w = mats[i].w;
    M->n = mats[i].n;
    M->row_bytes = lt_q_row_bytes(mats[i].type, k);
    M->row0 = J.rows;
    M->dot = T->dot[v];
    M->act = act[kind];
    J.rows += M->n;
    bytes += M->n * M->row_bytes;
    if (M->row_bytes > rb_max) rb_max = M->row_bytes;
  }
  /* pieces of >= ~16 KiB of weights: few takes, and a late thread's last piece is short */
  J.grain = zmax(4, zmin(64, (size_t)16384 / zmax(rb_max, 1)));
  atomic_init(&J.next, 0);
  const int threads = q_threads(bytes * (m < 2 ? 1 : m));
  if (threads <= 1 || J.rows <= J.grain) q_rows(&J, 0, J.rows);
  else {
    lt_parallel(q_run, &J, threads);
    lt_parallel_feedback(J.caller_units, J.rows);
  }
  return 0;
}

int lt_qmatmul_multi(const lt_qmat *mats, size_t count, const float *a, size_t m, size_t k) {
  for (size_t i = 0; i < count; i++)
    if (!qtype(mats[i].type)) return -1;
  if (m == 0) return 0;
  if (k == 0) {
    for (size_t i = 0; i < count; i++) memset(mats[i].out, 0, m * mats[i].n * sizeof(float));
    return 0;
  }
  if (m < LT_Q_GEMM_MIN_ROWS) {
    for (size_t i0 = 0; i0 < count; i0 += Q_MULTI_MAX)
      if (q_rows_multi(mats + i0, zmin(Q_MULTI_MAX, count - i0), a, m, k) != 0) return -1;
    return 0;
  }
#ifdef LT_X86_64
  /* q8_0 / q4_0 on the 8-bit gemm: the activations quantised once for all of them */
  /* q8_0 / q4_0 / q4_K / q5_K on the 8-bit gemm: the activations quantised once per kind (per 32, or per 256 for K), one kind after the other (both use scratch slot 1) */
  for (int kind = 0; kind < 2; kind++) {
    i8gemm_t I;
    int i8_ready = 0;
    for (size_t i = 0; i < count; i++) {
      if (!i8_takes(mats[i].type) || mats[i].n == 0 || (mats[i].type == LT_QT_Q4_K || mats[i].type == LT_QT_Q5_K) != kind) continue;
      if (!i8_ready) {
        if (i8_prepare(&I, a, m, k, kind) != 0) return -1;
        i8_ready = 1;
      }
      if (i8_product(&I, mats[i].out, mats[i].w, mats[i].type, mats[i].n, q_threads(m * mats[i].n * k)) != 0) return -1;
    }
  }
#endif
  /* the gemm path: activations packed once per (8-bit or not, depth block), reused by every matrix that reads them so */
  qgemm_t G;
  int prepared = 0, prep_q8 = 0;
  size_t prep_kc = 0;
  static const int act_order[3] = {1, 2, 0}; /* q8_0/q4_0 rounding, q8_K rounding, float: one preparation each */
  for (int pass = 0; pass < 3; pass++) {
    for (size_t i = 0; i < count; i++) {
      const qtype_t *T = qtype(mats[i].type);
      if (T->act_q8 != act_order[pass]) continue;
      if (mats[i].n == 0 || i8_takes(mats[i].type)) continue;
      const size_t kc = qgemm_kc(T);
      const int threads = q_threads(m * mats[i].n * k);
      if (!prepared || prep_q8 != T->act_q8 || prep_kc != kc) {
        if (qgemm_prepare(&G, a, m, k, T->act_q8, kc, threads_for(m * k, PAR_MIN_ELEMS)) != 0) return -1;
        prepared = 1;
        prep_q8 = T->act_q8;
        prep_kc = kc;
      }
      if (qgemm_product(&G, mats[i].out, mats[i].w, T, mats[i].n, threads) != 0) return -1;
    }
  }
  return 0;
}

int lt_qmatmul(float *out, const float *a, const uint8_t *w, int type, size_t m, size_t n, size_t k) {
  if (n == 0) return qtype(type) ? 0 : -1;
  const lt_qmat one = {out, w, type, n};
  return lt_qmatmul_multi(&one, 1, a, m, k);
}
