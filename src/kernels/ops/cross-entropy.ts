/**
 * Fused softmax + cross-entropy over `rows` rows of logits [rows × vocab], in place.
 *
 * For each row r with target y = targets[r] (a negative target is ignored: no loss, zero
 * gradient row), with p = softmax(z_r):
 *
 *   loss_r = logsumexp(z_r) − z_r[y]
 *   dz_r   = (p − onehot(y)) / totalCount        (written over the logits: forward and backward in one)
 *
 * Returns Σ_r loss_r / totalCount. `totalCount` is the number of targets in the whole step
 * (B·A·T for the training contract), so that the sum of the returned values over every chunk
 * of every micro-batch is the step's mean loss and the gradients written are the gradients of
 * that mean. If given, `rowLoss[r]` receives the unscaled loss_r (−log p(y); 0 for ignored rows).
 *
 * Chunked use: for each chunk of rows of the hidden state, compute its logits with a matmul
 * into a [chunk × vocab] buffer, call this, then matmulTN / matmulNN the buffer (now dLogits)
 * into the output head's gradient and the hidden state's gradient, and reuse the buffer for the
 * next chunk: the full [T × vocab] logits never exist.
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { data, ints, size } from "./check.js";
import type { TokenIds } from "./embedding.js";

export function crossEntropy(
  logits: FloatArray, targets: TokenIds, rows: number, vocab: number, totalCount: number,
  rowLoss: FloatArray | null = null,
): number {
  const invCount = 1 / totalCount;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const y = targets[r]!;
    if (y < 0) {
      for (let i = 0; i < vocab; i++) logits[o + i] = 0;
      if (rowLoss !== null) rowLoss[r] = 0;
      continue;
    }
    if (y >= vocab) throw outside("crossEntropy", y, r, vocab);
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (logits[o + i]! > max) max = logits[o + i]!;
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(logits[o + i]! - max);
    const lse = max + Math.log(sum);
    const loss = lse - logits[o + y]!;
    total += loss;
    if (rowLoss !== null) rowLoss[r] = loss;
    for (let i = 0; i < vocab; i++) logits[o + i] = Math.exp(logits[o + i]! - lse) * invCount;
    logits[o + y] = logits[o + y]! - invCount;
  }
  return total * invCount;
}

function outside(fn: string, y: number, r: number, vocab: number): RangeError {
  return new RangeError(`${fn}: target ${y} at row ${r} is outside the vocabulary (${vocab})`);
}

export const checks: Pick<CheckSpecs, "crossEntropy"> = {
  crossEntropy(logits, targets, rows, vocab, totalCount) {
    const fn = "crossEntropy";
    size(fn, "rows", rows); size(fn, "vocab", vocab);
    if (typeof totalCount !== "number" || !(totalCount > 0) || !Number.isFinite(totalCount)) {
      throw new RangeError(`${fn}: totalCount must be a finite number > 0, got ${String(totalCount)}`);
    }
    data(fn, "logits", logits, rows * vocab, "rows·vocab");
    ints(fn, "targets", targets, rows, "rows");
    for (let r = 0; r < rows; r++) if (targets[r]! >= vocab) throw outside(fn, targets[r]!, r, vocab);
  },
};
