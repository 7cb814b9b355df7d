/**
 * The default number of kernel threads, chosen by measurement rather than "every core".
 *
 * On a small shared VM the extra threads may not pay: a worker that another process keeps off
 * its core makes every threaded kernel wait for it (measured on a loaded 2-core VM: 2 threads
 * 1.5-8× slower than 1 per quantised matrix-vector product). So when the native backend starts
 * (and LLAMA_TS_THREADS is not set) it times a decode-sized product, a q8_0 matrix-vector
 * product of 2048 × 512 (1.1 MB of weights, ~20-40 µs), on 1 thread and on every core,
 * alternating, CALIBRATION_ROUNDS batches each, and keeps every core only if their median is at
 * least MIN_SPEEDUP times faster. It costs a few milliseconds. The native pool also keeps
 * watching at run time and falls back to the caller alone while threaded jobs lose (native/pool.c).
 */
import type { QuantMatrix } from "./quant.js";
import { rowBytes } from "./quant.js";

/** The native operations the calibration needs. */
export interface ThreadCalibrationTarget {
  qmatmul(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void;
  setThreads(n: number): void;
}

const CALIBRATION_ROWS = 2048;
const CALIBRATION_COLS = 512;
const CALIBRATION_ROUNDS = 7;
const CALLS_PER_BATCH = 8;
/** Every core must beat one thread by this factor to be the default. */
export const MIN_SPEEDUP = 1.15;

/** A q8_0 matrix of random bytes with a small block scale (the values do not matter, only the time). */
function calibrationMatrix(): QuantMatrix {
  const rb = rowBytes("q8_0", CALIBRATION_COLS);
  const data = new Uint8Array(CALIBRATION_ROWS * rb);
  let s = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  for (let b = 0; b < data.length; b += 34) {
    data[b] = 0; // f16 scale 2^-15: finite products
    data[b + 1] = 0x04;
  }
  return { kind: "quant", type: "q8_0", rows: CALIBRATION_ROWS, cols: CALIBRATION_COLS, data };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Times the calibration product on 1 and on `cores` threads; returns `cores` when it is at least
 * MIN_SPEEDUP times faster, else 1. Leaves the target at the returned count. `now` is the clock
 * in milliseconds (tests pass a simulated one).
 */
export function calibrateThreads(target: ThreadCalibrationTarget, cores: number, now: () => number = () => performance.now()): number {
  if (cores <= 1) {
    target.setThreads(1);
    return 1;
  }
  const w = calibrationMatrix();
  const x = new Float32Array(CALIBRATION_COLS).map((_, i) => Math.sin(i));
  const out = new Float32Array(CALIBRATION_ROWS);
  const batch = (threads: number): number => {
    target.setThreads(threads);
    const t0 = now();
    for (let i = 0; i < CALLS_PER_BATCH; i++) target.qmatmul(out, x, w, 1);
    return now() - t0;
  };
  batch(1);
  batch(cores); // warm-up: page faults, workers created and scheduled once
  const one: number[] = [];
  const all: number[] = [];
  for (let r = 0; r < CALIBRATION_ROUNDS; r++) {
    one.push(batch(1));
    all.push(batch(cores));
  }
  const best = median(one) >= MIN_SPEEDUP * median(all) ? cores : 1;
  target.setThreads(best);
  return best;
}
