/**
 * Inference cost: measured on a real model, extrapolated to the paper's shapes.
 *
 * Measured (one child process per weight type × thread count, so each peak RSS is clean): the
 * model is written as a GGUF of that type (saveGguf: norms f32, q4_0 files keep the output head
 * q8_0, rows that are not whole blocks fall back to f16) and opened with loadModel; then
 *   prefill tok/s = P / (time of one forward over a P-token prompt, after a warm-up),
 *   TTFT          = that same forward's time (prompt in, first token's logits out),
 *   decode tok/s  = G / (time of G single-token forwards on the KV cache),
 *   peak RSS      = process.resourceUsage().maxRSS of the child, read before the kernel probes;
 * and two kernel rates of the same type and threads: the decode bandwidth (bytes of a ~96 MB
 * weight matrix streamed by one matrix-vector product, per second) and the prefill matmul rate
 * (2·m·n·k FLOPs of a 64-row product with a 2048 × 2048 weight, per second).
 *
 * Extrapolated (the paper's 7B / 13B / 33B / 65B): decoding reads every weight once per token,
 * so decode tok/s = bandwidth / (bytes of the block matrices, norms and output head in that
 * type); prefill is compute-bound, so prefill tok/s = matmul rate / (2 · those matrices'
 * parameters), attention ignored; TTFT = P / prefill tok/s; memory = all stored weights + an
 * f32 KV cache of 2 · layers · kv_dim · 2048 positions. Cost per million generated tokens =
 * USD per core-hour × threads / 3600 / decode tok/s × 1e6.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { headDim, PRESETS, type LlamaConfig } from "../model/config.js";
import { paramLayout } from "../model/params.js";
import { ggufTensorNames, saveGguf } from "../formats/gguf-model.js";
import { ggufTensorType } from "../formats/gguf-mixture.js";
import type { QuantType } from "../kernels/quant.js";
import { quantize, rowBytes, type QuantMatrix } from "../kernels/quant.js";
import { getBackend } from "../kernels/backend.js";
import { loadModelSync, float32Params } from "../runtime/load.js";
import { UserError } from "../util/errors.js";

/** A storage type the cost model measures: one type for every matrix (no mixtures). */
export type CostType = Exclude<QuantType, "bf16"> | "f32"; // the types saveGguf writes (bf16 is read, not written)
export const COST_TYPES: readonly CostType[] = ["f32", "f16", "q8_0", "q4_0", "q6_K", "q5_K", "q4_K"];
export const EXTRAPOLATION_PRESETS = ["7B", "13B", "33B", "65B"] as const;
/** The figure used when --usd-per-core-hour is not given (a typical cloud vCPU-hour). */
export const DEFAULT_USD_PER_CORE_HOUR = 0.05;
/** Context the extrapolated KV cache is sized for (the paper's). */
export const EXTRAPOLATION_CONTEXT = 2048;

function bytesOf(type: QuantType | "f32", rows: number, cols: number): number {
  return type === "f32" ? rows * cols * 4 : rows * rowBytes(type, cols);
}

export interface StoredSize {
  /** Every tensor as stored. */
  totalBytes: number;
  /** What one decoded token reads: all tensors but the token embedding (one row of it). */
  perTokenBytes: number;
  /** Parameters of the matrices a token multiplies with (blocks + output head). */
  matmulParams: number;
}

/** Bytes of a model stored as `type` by saveGguf's rules, and its per-token matrix work. */
export function storedSize(c: LlamaConfig, type: CostType): StoredSize {
  const layout = paramLayout(c);
  let totalBytes = 0, perTokenBytes = 0, matmulParams = 0;
  for (const [g, h] of ggufTensorNames(c)) {
    const shape = layout.byName.get(h)!.shape;
    const rows = shape[0]!, cols = shape[1] ?? 1;
    const bytes = bytesOf(ggufTensorType(type, g, shape, c.numHiddenLayers, c.tieWordEmbeddings), rows, shape.length === 1 ? 1 : cols);
    totalBytes += bytes;
    const isEmbedding = g === "token_embd.weight";
    if (!isEmbedding || c.tieWordEmbeddings) perTokenBytes += bytes;
    if (shape.length === 2 && (!isEmbedding || c.tieWordEmbeddings)) matmulParams += rows * cols;
  }
  return { totalBytes, perTokenBytes, matmulParams };
}

export interface KernelRates {
  /** Bytes of weights streamed per second by a matrix-vector product. */
  bandwidthBytesPerS: number;
  /** FLOP/s of a 64-row matrix product. */
  matmulFlopsPerS: number;
}

export interface CostFigures {
  prefill_tok_s: number;
  decode_tok_s: number;
  ttft_ms: number;
  peak_rss_mb: number;
  usd_per_mtok: number;
}

export interface MeasuredCost extends CostFigures {
  type: CostType;
  threads: number;
  bandwidth_gb_s: number;
  matmul_gflop_s: number;
  weight_mb: number;
}

export interface ExtrapolatedCost extends CostFigures {
  preset: string;
  type: CostType;
  threads: number;
}

export function usdPerMillionTokens(usdPerCoreHour: number, threads: number, tokPerS: number): number {
  return ((usdPerCoreHour * threads) / 3600 / tokPerS) * 1e6;
}

/** The paper's shape `c` at `type`, from kernel rates measured at `threads`. */
export function extrapolate(c: LlamaConfig, type: CostType, rates: KernelRates, threads: number, promptTokens: number, usdPerCoreHour: number): CostFigures {
  const s = storedSize(c, type);
  const decode = rates.bandwidthBytesPerS / s.perTokenBytes;
  const prefill = rates.matmulFlopsPerS / (2 * s.matmulParams);
  const kvBytes = 2 * c.numHiddenLayers * c.numKeyValueHeads * headDim(c) * EXTRAPOLATION_CONTEXT * 4;
  return {
    prefill_tok_s: prefill,
    decode_tok_s: decode,
    ttft_ms: (promptTokens / prefill) * 1000,
    peak_rss_mb: (s.totalBytes + kvBytes) / 2 ** 20,
    usd_per_mtok: usdPerMillionTokens(usdPerCoreHour, threads, decode),
  };
}

// ---- measurement (runs in the child process) ----

function timeRepeated(fn: () => void, minSeconds: number): number {
  fn(); // warm-up: V8 tiers, page faults
  let calls = 0;
  const t0 = performance.now();
  do { fn(); calls++; } while (performance.now() - t0 < minSeconds * 1000);
  return (performance.now() - t0) / 1000 / calls;
}

/** A rows × cols weight of `type` (rows of one quantised random row repeated: timing only). */
function weightOf(type: CostType, rows: number, cols: number): Float32Array | QuantMatrix {
  const row = new Float32Array(cols);
  for (let i = 0; i < cols; i++) row[i] = Math.sin(i * 12.9898) * 0.05;
  if (type === "f32") {
    const w = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) w.set(row, r * cols);
    return w;
  }
  const one = quantize(row, 1, cols, type).data;
  const data = new Uint8Array(rows * one.length);
  for (let r = 0; r < rows; r++) data.set(one, r * one.length);
  return { kind: "quant", type, rows, cols, data };
}

function product(out: Float32Array, a: Float32Array, w: Float32Array | QuantMatrix, m: number, n: number, k: number): void {
  const b = getBackend();
  if (w instanceof Float32Array) {
    if (m === 1) b.matvec(out, w, a, n, k);
    else b.matmul(out, a, w, m, n, k);
  } else b.qmatmul(out, a, w, m);
}

export function measureKernelRates(type: CostType, seconds = 0.3): KernelRates {
  const k = 4096;
  const rows = Math.max(256, Math.round((96 * 2 ** 20) / bytesOf(type, 1, k)));
  let w: Float32Array | QuantMatrix | undefined = weightOf(type, rows, k);
  const x = new Float32Array(k).fill(0.01);
  const y = new Float32Array(rows);
  const tv = timeRepeated(() => product(y, x, w!, 1, rows, k), seconds);
  const bandwidthBytesPerS = bytesOf(type, rows, k) / tv;
  w = undefined;
  const n = 2048, kk = 2048, m = 64;
  const wm = weightOf(type, n, kk);
  const a = new Float32Array(m * kk).fill(0.01);
  const out = new Float32Array(m * n);
  const tm = timeRepeated(() => product(out, a, wm, m, n, kk), seconds);
  return { bandwidthBytesPerS, matmulFlopsPerS: (2 * m * n * kk) / tm };
}

export interface WorkerRequest { model: string; type: CostType; threads: number; promptTokens: number; decodeTokens: number; usdPerCoreHour: number }

/** Measures one (type, threads) in this process; `req.model` is a model file of that type. */
export function measureInProcess(req: WorkerRequest): MeasuredCost {
  getBackend().setThreads(req.threads);
  const lm = loadModelSync(req.model);
  const V = lm.config.vocabSize;
  const prompt = Array.from({ length: req.promptTokens }, (_, i) => 3 + ((i * 7919) % Math.max(1, V - 3)));
  const argmax = (l: Float32Array): number => { let b = 0; for (let i = 1; i < l.length; i++) if (l[i]! > l[b]!) b = i; return b; };
  const run = (): { prefill: number; decode: number } => {
    const cache = lm.model.newCache(req.promptTokens + req.decodeTokens + 1);
    const t0 = performance.now();
    let tok = argmax(lm.model.forward(prompt, cache));
    const t1 = performance.now();
    for (let i = 0; i < req.decodeTokens; i++) tok = argmax(lm.model.forward([tok], cache));
    return { prefill: (t1 - t0) / 1000, decode: (performance.now() - t1) / 1000 };
  };
  run(); // warm-up
  const r = run();
  const peakRssMb = process.resourceUsage().maxRSS / 1024; // KiB → MiB, before the kernel probes allocate
  const rates = measureKernelRates(req.type);
  const decodeTokS = req.decodeTokens / r.decode;
  return {
    type: req.type, threads: req.threads,
    prefill_tok_s: req.promptTokens / r.prefill, decode_tok_s: decodeTokS, ttft_ms: r.prefill * 1000, peak_rss_mb: peakRssMb,
    usd_per_mtok: usdPerMillionTokens(req.usdPerCoreHour, req.threads, decodeTokS),
    bandwidth_gb_s: rates.bandwidthBytesPerS / 1e9, matmul_gflop_s: rates.matmulFlopsPerS / 1e9,
    weight_mb: fs.statSync(req.model).size / 2 ** 20,
  };
}

// ---- orchestration (the parent) ----

export interface CostOptions {
  model: string;
  types: CostType[];
  threads: number[];
  promptTokens: number;
  decodeTokens: number;
  usdPerCoreHour: number;
  log: (line: string) => void;
}

export interface CostReport {
  model: string;
  usd_per_core_hour: number;
  prompt_tokens: number;
  decode_tokens: number;
  measured: MeasuredCost[];
  extrapolated: ExtrapolatedCost[];
  method: string;
}

export const COST_METHOD =
  "measured: one child process per type and thread count (prefill = one forward over the prompt; TTFT = that forward; decode = single-token forwards on the KV cache; peak RSS = the child's maxRSS). " +
  "extrapolated: decode tok/s = measured matrix-vector bandwidth of that type / bytes of the weights read per token; prefill tok/s = measured 64-row matmul FLOP/s / (2 × matrix parameters); " +
  `TTFT = prompt / prefill; memory = stored weights + f32 KV cache for ${EXTRAPOLATION_CONTEXT} positions; attention FLOPs and KV reads ignored. usd_per_mtok: generated tokens, USD per core-hour × threads.`;

const workerPath = path.join(path.dirname(fileURLToPath(import.meta.url)), "cost-worker.js");

export function runCost(o: CostOptions): CostReport {
  const lm = loadModelSync(o.model);
  const ctx = lm.config.maxPositionEmbeddings;
  if (o.promptTokens + o.decodeTokens + 1 > ctx) {
    throw new UserError(`--prompt-tokens ${o.promptTokens} + --decode-tokens ${o.decodeTokens} exceed the model's context of ${ctx} positions`);
  }
  const params = float32Params(lm);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-cost-"));
  const measured: MeasuredCost[] = [];
  const extrapolated: ExtrapolatedCost[] = [];
  try {
    for (const type of o.types) {
      const file = path.join(tmp, `model-${type}.gguf`);
      saveGguf(file, lm.config, params, { type, name: `${lm.name} (${type})` });
      for (const threads of o.threads) {
        o.log(`measuring ${type} on ${threads} thread${threads === 1 ? "" : "s"}`);
        const req: WorkerRequest = { model: file, type, threads, promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, usdPerCoreHour: o.usdPerCoreHour };
        const r = spawnSync(process.execPath, [workerPath, JSON.stringify(req)], { encoding: "utf8", env: { ...process.env, LLAMA_TS_THREADS: String(threads) } });
        if (r.status !== 0) throw new Error(`cost worker failed for ${type} × ${threads} threads:\n${r.stderr}`);
        const m = JSON.parse(r.stdout.trim().split("\n").pop()!) as MeasuredCost;
        measured.push(m);
        const rates: KernelRates = { bandwidthBytesPerS: m.bandwidth_gb_s * 1e9, matmulFlopsPerS: m.matmul_gflop_s * 1e9 };
        for (const preset of EXTRAPOLATION_PRESETS) {
          extrapolated.push({ preset, type, threads, ...extrapolate(PRESETS[preset]!, type, rates, threads, o.promptTokens, o.usdPerCoreHour) });
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return {
    model: o.model, usd_per_core_hour: o.usdPerCoreHour, prompt_tokens: o.promptTokens, decode_tokens: o.decodeTokens,
    measured, extrapolated, method: COST_METHOD,
  };
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 0.01 ? v.toFixed(2) : v.toExponential(1));

export function costTable(r: CostReport): string {
  const head = "model            type   threads  prefill tok/s  decode tok/s   TTFT ms  peak MB   $/Mtok  source";
  const lines = [
    `inference cost of ${r.model} (prompt ${r.prompt_tokens} tokens, ${r.decode_tokens} decoded; $${r.usd_per_core_hour} per core-hour)`,
    head,
  ];
  const row = (name: string, type: string, threads: number, f: CostFigures, source: string): string =>
    `${name.padEnd(16)} ${type.padEnd(6)} ${String(threads).padStart(7)}  ${fmt(f.prefill_tok_s).padStart(13)}  ${fmt(f.decode_tok_s).padStart(12)}  ${fmt(f.ttft_ms).padStart(8)}  ${fmt(f.peak_rss_mb).padStart(7)}  ${fmt(f.usd_per_mtok).padStart(7)}  ${source}`;
  for (const m of r.measured) lines.push(row(path.basename(r.model), m.type, m.threads, m, `measured (${fmt(m.bandwidth_gb_s)} GB/s matvec, ${fmt(m.matmul_gflop_s)} GFLOP/s matmul)`));
  for (const e of r.extrapolated) lines.push(row(`LLaMA ${e.preset}`, e.type, e.threads, e, "extrapolated"));
  lines.push("", `method: ${r.method}`);
  return lines.join("\n") + "\n";
}
