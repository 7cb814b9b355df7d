/*
 * Products with quantised weight matrices in the GGUF block layouts (f16, q8_0, q4_0, q2_K,
 * q3_K, q4_K, q5_K, q6_K): see native/quant.c for the per-type table and the numerics, native/quant_k.h for
 * the K-quant blocks.
 */
#ifndef LLAMA_TS_QUANT_H
#define LLAMA_TS_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* ggml type ids */
#define LT_QT_F16 1
#define LT_QT_Q4_0 2
#define LT_QT_Q8_0 8
#define LT_QT_Q2_K 10
#define LT_QT_Q3_K 11
#define LT_QT_Q4_K 12
#define LT_QT_Q5_K 13
#define LT_QT_Q6_K 14

/* A registered weight type: ggml id, name, values and bytes per block (see lt_q_type). */
typedef struct {
  int id;
  const char *name;
  size_t block, bytes;
} lt_qtype_desc;

/* The registered type with ggml id `id`, or NULL. */
const lt_qtype_desc *lt_q_type(int id);

/* Bytes of one row of k values of `type`, 0 if the type is unknown or k does not fit its blocks. */
size_t lt_q_row_bytes(int type, size_t k);

/*
 * From this many activation rows on, lt_qmatmul widens weight panels into the float32 packed
 * gemm instead of taking block dot products row by row (same numbers to float rounding; see
 * quant.c). Measured at the stories15M shape, see the comment at its use.
 */
#ifndef LT_Q_GEMM_MIN_ROWS
#define LT_Q_GEMM_MIN_ROWS 4
#endif

/*
 * out[m x n] = a[m x k] . w^T, w holding n rows of k values stored as `type`
 * (n * lt_q_row_bytes(type, k) bytes). Returns 0, or -1 when out of memory.
 */
int lt_qmatmul(float *out, const float *a, const uint8_t *w, int type, size_t m, size_t n, size_t k);

/* One weight matrix of lt_qmatmul_multi: out[m x n] = a . w^T, w holding n rows stored as `type`. */
typedef struct {
  float *out;
  const uint8_t *w;
  int type;
  size_t n;
} lt_qmat;

/*
 * lt_qmatmul for `count` weight matrices that read the same activations a[m x k] (q, k and v;
 * gate and up): a is quantised (or packed) once per call and shared, and on the row path all
 * matrices' rows are one job for the threads. Each out equals what lt_qmatmul gives, bit for
 * bit. Returns 0, or -1 when out of memory or a type is unknown.
 */
int lt_qmatmul_multi(const lt_qmat *mats, size_t count, const float *a, size_t m, size_t k);

/* The kernel variant in use for `type` now ("avx512-vnni", "avx2", "scalar"), for tests and benchmarks. */
const char *lt_q_variant(void);

/* LT_Q_GEMM_MIN_ROWS, for tests and benchmarks. */
size_t lt_q_gemm_min_rows(void);


#endif
