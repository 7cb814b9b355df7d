/** Random initialisation: N(0, 0.02) for matrices, ones for RMSNorm weights. */
import type { LlamaConfig } from "./config.js";
import { paramLayout } from "./params.js";
import { Rng } from "../util/rng.js";

export function initParams(c: LlamaConfig, seed: number, std = 0.02): Float32Array {
  const layout = paramLayout(c);
  const data = new Float32Array(layout.total);
  const rng = new Rng(seed);
  for (const s of layout.specs) {
    const view = data.subarray(s.offset, s.offset + s.size);
    if (s.shape.length === 1) view.fill(1);
    else for (let i = 0; i < view.length; i++) view[i] = rng.normal() * std;
  }
  return data;
}
