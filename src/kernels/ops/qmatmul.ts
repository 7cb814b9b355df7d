/**
 * out[m×n] = a[m×k] · wᵀ with w [n×k] stored quantised in GGUF blocks (any type of the registry,
 * src/kernels/quant/). The numerics (activation rows quantised to 8 bits for the integer-dot
 * types, block scales) are kernels/quant.ts's; `quantMatmulReference` is the reference.
 */
import type { CheckSpecs } from "../types.js";
import { GGML_TYPE_ID, rowBytes } from "../quant.js";
import { data, size } from "./check.js";

export { quantMatmulReference as qmatmul } from "../quant.js";

export const checks: Pick<CheckSpecs, "qmatmul"> = {
  qmatmul(out, a, w, m) {
    const fn = "qmatmul";
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
  },
};
