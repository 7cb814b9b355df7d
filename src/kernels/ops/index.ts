/**
 * The ops, one module each (forward and backward side by side, with the contract's formula,
 * the reference implementation and the argument-check spec), gathered into the two objects the
 * rest of the library uses: the reference implementation of the whole contract, and the check
 * spec of every op (applied to any backend by kernels/checked.ts).
 */
import type { CheckSpecs, FloatArray, KernelOps, OpName } from "../types.js";
import * as add from "./add.js";
import * as adamw from "./adamw.js";
import * as attention from "./attention.js";
import * as attentionTrain from "./attention-train.js";
import * as crossEntropy from "./cross-entropy.js";
import * as matmul from "./matmul.js";
import * as qmatmul from "./qmatmul.js";
import * as rmsnorm from "./rmsnorm.js";
import * as rope from "./rope.js";
import * as sumSquares from "./sum-squares.js";
import * as swiglu from "./swiglu.js";

/**
 * The whole contract on the TypeScript references, for Float32Array or Float64Array (the
 * finite-difference checks run float64). Training attention runs in tiles of blockQ × blockK
 * (default 64 × 64) with scratch kept in this object, so one object serves one thread.
 */
export function referenceOps<F extends FloatArray = Float32Array>(opts: { blockQ?: number; blockK?: number } = {}): KernelOps<F> {
  return {
    matmul: matmul.matmul,
    matmulNN: matmul.matmulNN,
    matmulTN: matmul.matmulTN,
    matvec: matmul.matvec,
    qmatmul: qmatmul.qmatmul,
    qmatmulMany: qmatmul.qmatmulMany,
    rmsnorm: rmsnorm.rmsnorm,
    rmsnormStats: rmsnorm.rmsnormStats,
    rmsnormApply: rmsnorm.rmsnormApply,
    rmsnormBackward: rmsnorm.rmsnormBackward,
    rope: rope.rope,
    attention: attention.attention,
    ...attentionTrain.attentionTrainOps<F>(opts.blockQ, opts.blockK),
    swiglu: swiglu.swiglu,
    swigluBackward: swiglu.swigluBackward,
    addInPlace: add.addInPlace,
    crossEntropy: crossEntropy.crossEntropy,
    adamwSegment: adamw.adamwSegment,
    sumSquares: sumSquares.sumSquares,
  };
}

/** Every op's argument checks (Float32Array backends), keyed by op name. */
export const opChecks: CheckSpecs = {
  ...matmul.checks,
  ...qmatmul.checks,
  ...rmsnorm.checks,
  ...rope.checks,
  ...attention.checks,
  ...attentionTrain.checks,
  ...swiglu.checks,
  ...add.checks,
  ...crossEntropy.checks,
  ...adamw.checks,
  ...sumSquares.checks,
};

/** The names of the contract's ops. */
export const OP_NAMES = Object.keys(opChecks) as readonly OpName[];
