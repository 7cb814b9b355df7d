/** Shared test utilities: a seeded RNG for random inputs and closeness checks. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import path from "node:path";

/** The repository root (tests run from dist/test/..., fixtures live in test/fixtures). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const fixturesDir = path.join(repoRoot, "test", "fixtures");
/** ../shared/fixtures beside the repository (the real LLaMA tokenizer lives there). */
export const sharedFixturesDir = path.resolve(repoRoot, "..", "shared", "fixtures");

/** mulberry32: small, seeded, good enough for test inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** Asserts max |a-b| / (max|b| + tiny) <= tol, reporting the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = "values"): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) { worst = d; worstAt = i; }
  }
  const rel = worst / (maxAbs + 1e-30);
  assert.ok(rel <= tol, `${what}: relative error ${rel.toExponential(3)} > ${tol} at ${worstAt} (got ${actual[worstAt]}, want ${expected[worstAt]})`);
}
