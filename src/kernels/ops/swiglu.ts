/**
 * SwiGLU's gating, forward and backward, σ the logistic function, silu(g) = g σ(g):
 *
 *   out   = silu(gate) · up
 *   dUp   = dOut · silu(gate)
 *   dGate = dOut · up · σ(gate) · (1 + gate · (1 − σ(gate)))
 *
 * All arrays hold n elements. Both gradients are overwritten; `dGate` or `dUp` may alias `dOut`
 * (each element is read before written).
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { data, size } from "./check.js";

export function swiglu(out: FloatArray, gate: FloatArray, up: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

export function swigluBackward(
  dGate: FloatArray, dUp: FloatArray, dOut: FloatArray, gate: FloatArray, up: FloatArray, n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const u = up[i]!;
    const d = dOut[i]!;
    const sig = 1 / (1 + Math.exp(-g));
    dUp[i] = d * g * sig;
    dGate[i] = d * u * sig * (1 + g * (1 - sig));
  }
}

export const checks: Pick<CheckSpecs, "swiglu" | "swigluBackward"> = {
  swiglu(out, gate, up, n) {
    const fn = "swiglu";
    size(fn, "n", n);
    data(fn, "out", out, n, "n"); data(fn, "gate", gate, n, "n"); data(fn, "up", up, n, "n");
  },
  swigluBackward(dGate, dUp, dOut, gate, up, n) {
    const fn = "swigluBackward";
    size(fn, "n", n);
    data(fn, "dGate", dGate, n, "n"); data(fn, "dUp", dUp, n, "n"); data(fn, "dOut", dOut, n, "n");
    data(fn, "gate", gate, n, "n"); data(fn, "up", up, n, "n");
  },
};
