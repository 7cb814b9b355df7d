/**
 * Benchmark section: matmul (x·Wᵀ) GFLOP/s and the decode-time matvec, reference kernels vs the
 * native backend on 1 and 2 threads. Returns Markdown; prints nothing.
 */
import os from "node:os";
import { referenceOps } from "../src/kernels/ops/index.js";
const referenceKernels = referenceOps();
import { loadNativeBackend } from "../src/kernels/native.js";

type MatmulFn = (out: Float32Array, a: Float32Array, w: Float32Array, m: number, n: number, k: number) => void;
type MatvecFn = (out: Float32Array, w: Float32Array, x: Float32Array, n: number, k: number) => void;

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Best seconds per call over `runs` timed runs of `reps` calls each. */
function best(runs: number, reps: number, f: () => void): number {
  let t = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = now();
    for (let i = 0; i < reps; i++) f();
    t = Math.min(t, (now() - t0) / reps);
  }
  return t;
}

/** Calls per timed run so that one run lasts about `target` seconds (at least 1). */
function repsFor(target: number, f: () => void): number {
  const t0 = now();
  f();
  const dt = now() - t0;
  return Math.max(1, Math.min(100000, Math.round(target / Math.max(dt, 1e-7))));
}

function timeMatmul(fn: MatmulFn, m: number, n: number, k: number, runs: number): number {
  const a = random(m * k, 1), w = random(n * k, 2), out = new Float32Array(m * n);
  const call = (): void => fn(out, a, w, m, n, k);
  call(); // warm-up (JIT tiers, worker threads, scratch buffers)
  const reps = repsFor(0.05, call);
  return (2 * m * n * k) / best(runs, reps, call) / 1e9;
}

function timeMatvec(fn: MatvecFn, n: number, k: number, runs: number): number {
  const w = random(n * k, 3), x = random(k, 4), out = new Float32Array(n);
  const call = (): void => fn(out, w, x, n, k);
  for (let i = 0; i < 3; i++) call();
  const reps = repsFor(0.03, call);
  return best(runs, reps, call);
}

function warmReference(): void {
  // get the reference kernels past V8's baseline tier before timing them
  const m = 24, n = 40, k = 56;
  const a = random(m * k, 5), w = random(n * k, 6), out = new Float32Array(m * n);
  for (let i = 0; i < 200; i++) referenceKernels.matmul(out, a, w, m, n, k);
}

export async function bench(): Promise<string> {
  const load = loadNativeBackend();
  const native = load.backend;
  const threads0 = native?.threads ?? 1;
  warmReference();

  const shapes: Array<[number, number, number]> = [[512, 512, 512], [256, 2048, 768]];
  const mvShapes: Array<[number, number]> = [[32000, 288], [768, 768], [288, 288]];
  const lines: string[] = [];
  lines.push("## Kernels: matmul and matvec", "");
  lines.push(
    `CPU: ${os.cpus()[0]?.model ?? "unknown"}, ${os.availableParallelism()} cores. ` +
      (native ? `Native backend on ${native.isa} (this CPU has: ${native.supportedIsas.join(", ")}).` : `Native backend unavailable: ${load.error}.`) +
      " Best of several timed runs after a warm-up. matmul is out[m×n] = a[m×k]·wᵀ, w stored [n×k].",
    "",
  );
  const na = "n/a";
  lines.push("| kernel | m×n×k | reference | native, 1 thread | native, 2 threads |", "| --- | --- | --- | --- | --- |");
  for (const [m, n, k] of shapes) {
    const refG = timeMatmul(referenceKernels.matmul, m, n, k, 2);
    let n1 = na, n2 = na;
    if (native) {
      native.setThreads(1);
      n1 = `${timeMatmul(native.matmul, m, n, k, 7).toFixed(1)} GFLOP/s`;
      native.setThreads(2);
      n2 = `${timeMatmul(native.matmul, m, n, k, 7).toFixed(1)} GFLOP/s`;
    }
    lines.push(`| matmul | ${m}×${n}×${k} | ${refG.toFixed(1)} GFLOP/s | ${n1} | ${n2} |`);
  }
  const mvCell = (n: number, k: number, sec: number): string =>
    `${(sec * 1e6).toFixed(1)} µs, ${((2 * n * k) / sec / 1e9).toFixed(1)} GFLOP/s, ${((4 * n * k) / sec / 1e9).toFixed(1)} GB/s`;
  for (const [n, k] of mvShapes) {
    const refT = timeMatvec(referenceKernels.matvec, n, k, 3);
    let n1 = na, n2 = na;
    if (native) {
      native.setThreads(1);
      n1 = mvCell(n, k, timeMatvec(native.matvec, n, k, 7));
      native.setThreads(2);
      n2 = mvCell(n, k, timeMatvec(native.matvec, n, k, 7));
    }
    lines.push(`| matvec (decode) | 1×${n}×${k} | ${mvCell(n, k, refT)} | ${n1} | ${n2} |`);
  }
  if (native) native.setThreads(threads0);
  lines.push(
    "",
    "matvec GB/s counts the weight bytes read per call (float32); 32000×288 is the stories15M output head (37 MB, from memory), 768×768 and 288×288 fit in L2.",
    "",
  );
  return lines.join("\n");
}
