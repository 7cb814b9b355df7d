/** Rotary position embedding tables: θ_i = theta^(-2i/headDim), angle = pos · θ_i. */
export function ropeTables(headDim: number, maxPos: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let i = 0; i < half; i++) {
    // Computed in float64 then rounded, as PyTorch computes inv_freq in float32 then the
    // product in float32; the difference is below float32 resolution for the sizes we use.
    const invFreq = 1 / Math.pow(theta, (2 * i) / headDim);
    for (let p = 0; p < maxPos; p++) {
      const a = p * Math.fround(invFreq);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}
