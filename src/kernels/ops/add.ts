/**
 * x[i] += y[i] for i < n: the residual stream. Its backward is the identity (the gradient flows
 * to both branches), which the training graph expresses with `accumulate` flags.
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { data, size } from "./check.js";

export function addInPlace(x: FloatArray, y: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) x[i] = x[i]! + y[i]!;
}

export const checks: Pick<CheckSpecs, "addInPlace"> = {
  addInPlace(x, y, n) {
    const fn = "addInPlace";
    size(fn, "n", n);
    data(fn, "x", x, n, "n"); data(fn, "y", y, n, "n");
  },
};
