/**
 * out[m×n] = a[m×k] · wᵀ with w [n×k] stored quantised in GGUF blocks (any type of the registry,
 * src/kernels/quant/). The numerics (activation rows quantised to 8 bits for the integer-dot
 * types, block scales) are kernels/quant.ts's; `quantMatmulReference` is the reference.
 */
import type { CheckSpecs } from "../types.js";
import { GGML_TYPE_ID, quantMatmulReference, rowBytes, type QuantMatrix } from "../quant.js";
import { data, size } from "./check.js";

export { quantMatmulReference as qmatmul } from "../quant.js";

/** The most matrices one qmatmulMany call takes (the native kernel's fixed table). */
export const QMATMUL_MANY_MAX = 16;

/** qmatmulMany's reference: one qmatmul per matrix (a fast backend shares the quantised a). */
export function qmatmulMany(outs: readonly Float32Array[], a: Float32Array, ws: readonly QuantMatrix[], m: number): void {
  ws.forEach((w, i) => quantMatmulReference(outs[i]!, a, w, m));
}

function checkOne(fn: string, out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void {
  size(fn, "m", m);
    if (!(w.data instanceof Uint8Array)) throw new TypeError(`${fn}: w.data must be a Uint8Array`);
    const type = GGML_TYPE_ID[w.type];
    if (type === undefined || type === 0) throw new RangeError(`${fn}: unknown weight type ${String(w.type)}`);
    const n = w.rows;
    const k = w.cols;
    size(fn, "rows", n); size(fn, "cols", k);
    const bytes = n * rowBytes(w.type, k);
    if (w.data.length < bytes) throw new RangeError(`${fn}: w.data has ${w.data.length} bytes, ${n} rows of ${k} ${w.type} values need ${bytes}`);
    data(fn, "out", out, m * n, "m·rows");
    data(fn, "a", a, m * k, "m·cols");
}

export const checks: Pick<CheckSpecs, "qmatmul" | "qmatmulMany"> = {
  qmatmul(out, a, w, m) {
    checkOne("qmatmul", out, a, w, m);
  },
  qmatmulMany(outs, a, ws, m) {
    const fn = "qmatmulMany";
    if (outs.length !== ws.length) throw new RangeError(`${fn}: ${outs.length} outputs for ${ws.length} weight matrices`);
    if (ws.length > QMATMUL_MANY_MAX) throw new RangeError(`${fn}: at most ${QMATMUL_MANY_MAX} weight matrices, got ${ws.length}`);
    ws.forEach((w, i) => {
      if (w.cols !== ws[0]!.cols) throw new RangeError(`${fn}: weight ${i} has ${w.cols} columns, weight 0 has ${ws[0]!.cols}`);
      checkOne(fn, outs[i]!, a, w, m);
    });
  },
};
