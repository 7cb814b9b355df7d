/* The portable path: plain C, vectorised only as far as the compiler's baseline allows. */
#define GEN_MR 4
#define GEN_NR 8
#include "isa_generic.h"

static void pack_a(float *dst, const float *src, size_t ld, size_t rows, size_t kc) {
  gen_pack(dst, src, ld, rows, kc, GEN_MR);
}
static void pack_b(float *dst, const float *src, size_t ld, size_t rows, size_t kc) {
  gen_pack(dst, src, ld, rows, kc, GEN_NR);
}

const lt_ops lt_ops_scalar = {
  .name = "scalar",
  .mr = GEN_MR, .nr = GEN_NR, .mc = 64, .kc = 256, .nc = 2048,
  .pack_a = pack_a,
  .pack_b = pack_b,
  .ukernel = gen_ukernel,
  .dot_tile = gen_dot_tile,
  .accum_rows = gen_accum_rows,
  .dot = gen_dot,
  .axpy = gen_axpy,
  .scale = gen_scale,
  .exp_shift_sum = gen_exp_shift_sum,
  .rmsnorm_row = gen_rmsnorm_row,
  .swiglu = gen_swiglu,
  .add = gen_add,
};
