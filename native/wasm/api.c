/*
 * The wasm module's exports (the JS side: src/kernels/wasm.ts). Pointers are byte offsets into
 * the module's memory, sizes are 32-bit; results that native returns as doubles come back
 * through a double slot the caller passes. Every kernel runs on lt_ops_wasm (isa_wasm.c).
 */
#include "../lt.h"
#include "../quant.h"
#include "../train.h"

#include <stdlib.h>

extern const lt_ops lt_ops_wasm;

#define EXPORT(name) __attribute__((export_name(#name)))

EXPORT(lt_wasm_init) void lt_wasm_init(void) { lt_set_ops(&lt_ops_wasm); }
EXPORT(lt_wasm_malloc) void *lt_wasm_malloc(size_t n) { return malloc(n); }
EXPORT(lt_wasm_free) void lt_wasm_free(void *p) { free(p); }
EXPORT(lt_wasm_set_threads) int lt_wasm_set_threads(int n) { return lt_set_threads(n); }
EXPORT(lt_wasm_get_threads) int lt_wasm_get_threads(void) { return lt_get_threads(); }

EXPORT(lt_wasm_matmul) int lt_wasm_matmul(float *out, const float *a, const float *w, size_t m, size_t n, size_t k) {
  return lt_matmul(out, a, w, m, n, k);
}
EXPORT(lt_wasm_matvec) void lt_wasm_matvec(float *out, const float *w, const float *x, size_t n, size_t k) {
  lt_matvec(out, w, x, n, k);
}
EXPORT(lt_wasm_qmatmul) int lt_wasm_qmatmul(float *out, const float *a, const uint8_t *w, int type, size_t m,
                                            size_t n, size_t k) {
  return lt_qmatmul(out, a, w, type, m, n, k);
}
EXPORT(lt_wasm_q_row_bytes) size_t lt_wasm_q_row_bytes(int type, size_t k) { return lt_q_row_bytes(type, k); }
EXPORT(lt_wasm_rmsnorm) void lt_wasm_rmsnorm(float *out, const float *x, const float *w, size_t rows, size_t dim,
                                             float eps) {
  lt_rmsnorm(out, x, w, rows, dim, eps);
}
EXPORT(lt_wasm_rope) void lt_wasm_rope(float *x, size_t rows, size_t n_heads, size_t head_dim, size_t pos0,
                                       const float *cos_t, const float *sin_t) {
  lt_rope(x, rows, n_heads, head_dim, pos0, cos_t, sin_t);
}
EXPORT(lt_wasm_attention) int lt_wasm_attention(float *out, const float *q, const float *k, const float *v,
                                                size_t rows, size_t pos0, size_t n_heads, size_t n_kv_heads,
                                                size_t head_dim) {
  return lt_attention(out, q, k, v, rows, pos0, n_heads, n_kv_heads, head_dim);
}
EXPORT(lt_wasm_swiglu) void lt_wasm_swiglu(float *out, const float *gate, const float *up, size_t n) {
  lt_swiglu(out, gate, up, n);
}
EXPORT(lt_wasm_add) void lt_wasm_add(float *x, const float *y, size_t n) { lt_add(x, y, n); }

EXPORT(lt_wasm_matmul_nn) int lt_wasm_matmul_nn(float *out, const float *a, const float *b, size_t m, size_t n,
                                                size_t k, int accumulate) {
  return lt_matmul_nn(out, a, b, m, n, k, accumulate);
}
EXPORT(lt_wasm_matmul_tn) int lt_wasm_matmul_tn(float *out, const float *a, const float *b, size_t m, size_t n,
                                                size_t k, int accumulate) {
  return lt_matmul_tn(out, a, b, m, n, k, accumulate);
}
EXPORT(lt_wasm_attention_train_forward) int lt_wasm_attention_train_forward(float *out, float *lse, const float *q,
                                                                            const float *k, const float *v, size_t B,
                                                                            size_t T, size_t nH, size_t nKv,
                                                                            size_t hd) {
  return lt_attention_train_forward(out, lse, q, k, v, B, T, nH, nKv, hd);
}
EXPORT(lt_wasm_attention_train_backward) int lt_wasm_attention_train_backward(
    float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v,
    const float *out, const float *lse, size_t B, size_t T, size_t nH, size_t nKv, size_t hd, int accumulate) {
  return lt_attention_train_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, nH, nKv, hd, accumulate);
}
EXPORT(lt_wasm_cross_entropy) int lt_wasm_cross_entropy(float *logits, const int32_t *targets, size_t rows,
                                                        size_t vocab, double total_count, double *loss) {
  return lt_cross_entropy(logits, targets, rows, vocab, total_count, loss);
}
EXPORT(lt_wasm_rmsnorm_stats) void lt_wasm_rmsnorm_stats(float *out, float *inv, const float *x, const float *w,
                                                         size_t rows, size_t dim, double eps) {
  lt_rmsnorm_stats(out, inv, x, w, rows, dim, eps);
}
EXPORT(lt_wasm_rmsnorm_apply) void lt_wasm_rmsnorm_apply(float *out, const float *x, const float *w,
                                                         const float *inv, size_t rows, size_t dim) {
  lt_rmsnorm_apply(out, x, w, inv, rows, dim);
}
EXPORT(lt_wasm_rmsnorm_backward) void lt_wasm_rmsnorm_backward(float *dx, float *dw, const float *dout,
                                                               const float *x, const float *w, const float *inv,
                                                               size_t rows, size_t dim, int accumulate) {
  lt_rmsnorm_backward(dx, dw, dout, x, w, inv, rows, dim, accumulate);
}
EXPORT(lt_wasm_swiglu_backward) void lt_wasm_swiglu_backward(float *dgate, float *dup, const float *dout,
                                                             const float *gate, const float *up, size_t n) {
  lt_swiglu_backward(dgate, dup, dout, gate, up, n);
}
EXPORT(lt_wasm_adamw) void lt_wasm_adamw(float *p, const float *g, float *m, float *v, size_t n, double decay,
                                         double gscale, double b1, double b2, double eps, double step_size,
                                         double bc2_sqrt) {
  lt_adamw(p, g, m, v, n, decay, gscale, b1, b2, eps, step_size, bc2_sqrt);
}
EXPORT(lt_wasm_sum_squares) int lt_wasm_sum_squares(const float *x, size_t n, double *result) {
  return lt_sum_squares(x, n, result);
}
