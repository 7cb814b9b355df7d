/* Training kernels (train.c); bound to JS in train_napi.c. Return 0, or -1 on out of memory. */
#ifndef LLAMA_TS_TRAIN_H
#define LLAMA_TS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

/* out[m×n] (+)= a[m×k] · b[k×n] */
int lt_matmul_nn(float *out, const float *a, const float *b, size_t m, size_t n, size_t k, int accumulate);
/* out[m×n] (+)= aᵀ · b, a [k×m], b [k×n] */
int lt_matmul_tn(float *out, const float *a, const float *b, size_t m, size_t n, size_t k, int accumulate);
/* B sequences of T rows: q, out [B·T × nH × hd]; k, v [B·T × nKv × hd]; lse [B·T × nH] */
int lt_attention_train_forward(float *out, float *lse, const float *q, const float *k, const float *v, size_t B,
                               size_t T, size_t nH, size_t nKv, size_t hd);
int lt_attention_train_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                const float *v, const float *out, const float *lse, size_t B, size_t T, size_t nH,
                                size_t nKv, size_t hd, int accumulate);
int lt_cross_entropy(float *logits, const int32_t *targets, size_t rows, size_t vocab, double total_count,
                     double *loss);
void lt_rmsnorm_stats(float *out, float *inv, const float *x, const float *w, size_t rows, size_t dim, double eps);
void lt_rmsnorm_apply(float *out, const float *x, const float *w, const float *inv, size_t rows, size_t dim);
void lt_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *inv,
                         size_t rows, size_t dim, int accumulate);
void lt_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n);
void lt_adamw(float *p, const float *g, float *m, float *v, size_t n, double decay, double gscale, double b1,
              double b2, double eps, double step_size, double bc2_sqrt);
int lt_sum_squares(const float *x, size_t n, double *result);

#endif
