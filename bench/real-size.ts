/**
 * Real sizes, side by side with llama.cpp: the 1.1B TinyLlama shape (dim 2048, 22 layers, 32
 * heads / 4 KV heads, FFN 5632, vocab 32000) with random weights, as q8_0 and f16 GGUF files
 * (+ f32 with --f32), written once into the git-ignored cache .bench/real-size/ (tensor by
 * tensor: the model is never whole in memory). For each file and thread count, each engine runs
 * in its own child process, so that its peak RSS is its own:
 *
 *   load + first token   wall time from the child's start until the logits of one token exist
 *                        (for both: process start, module load, open/map, first forward)
 *   decode tok/s         greedy steps after a 16-token prompt
 *   prefill tok/s        one 512-token prompt
 *   peak RSS             the child's maximum resident set (getrusage), mapped file pages included
 *
 * llama.cpp (node-llama-cpp, bench/peers/llama-cpp.ts) is timed by its own perf counters for
 * decode and prefill, as in `npm run bench -- peers`; it is skipped when not installed.
 *
 *   npm run bench -- real-size [--layers=N] [--threads=1,2] [--decode=N] [--repeat=N] [--f32] [--types=q8_0,f16,...] [--7b]
 *
 * --repeat=N runs each engine N times per cell, alternating llama-ts and llama.cpp, and reports
 * the median of each column (this VM's neighbours move one run by ±15 %; a median of
 * alternating runs compares the engines under the same conditions).
 * --types=LIST picks the file types (default q8_0,f16; --f32 adds f32; any GGUF export type, e.g. q4_0, q4_K_M).
 * --layers=N builds and runs the shape with N layers (a quick check of the bench itself; the
 * files are cached per layer count). --7b adds the LLaMA 7B shape (dim 4096, 32 layers, FFN
 * 11008; 13.5 GB as f16) and reports peak RSS while generating a few tokens: weights stay f16
 * and mapped, so it runs within 24 GB.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { LlamaConfig } from "../src/model/config.js";
import type { ParamSpec } from "../src/model/params.js";
import { paramLayout } from "../src/model/params.js";
import { saveGgufFrom, type GgufExportType } from "../src/formats/gguf-model.js";
import { peerStatus, repoRoot, INSTALL_HINT } from "./peers/llama-cpp.js";
import { tokenizerPath } from "./peers.js";
import { UserError } from "../src/util/errors.js";

const PREFILL = 512;
const DECODE_PROMPT = 16;

const TINYLLAMA: LlamaConfig = {
  vocabSize: 32000, hiddenSize: 2048, intermediateSize: 5632, numHiddenLayers: 22, numAttentionHeads: 32, numKeyValueHeads: 4,
  rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 2048, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
};
const LLAMA_7B: LlamaConfig = { ...TINYLLAMA, hiddenSize: 4096, intermediateSize: 11008, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 32 };

interface Options {
  layers: number | undefined;
  threads: number[];
  decode: number;
  repeat: number;
  f32: boolean;
  types: GgufExportType[] | undefined;
  big: boolean;
}

function options(argv: readonly string[]): Options {
  const o: Options = { layers: undefined, threads: [1, 2], decode: 32, repeat: 1, f32: false, types: undefined, big: false };
  for (const a of argv) {
    const [k, v] = a.split("=", 2) as [string, string | undefined];
    const int = (): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new UserError(`${k} needs a positive integer, got ${String(v)}`);
      return n;
    };
    if (k === "--layers") o.layers = int();
    else if (k === "--decode") o.decode = int();
    else if (k === "--repeat") o.repeat = int();
    else if (k === "--threads") o.threads = (v ?? "").split(",").map(Number).filter((n) => Number.isInteger(n) && n >= 1);
    else if (k === "--f32") o.f32 = true;
    else if (k === "--types") o.types = (v ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "") as GgufExportType[];
    else if (k === "--7b") o.big = true;
  }
  return o;
}

// ---- the files ----

/** Random weights for one tensor: norms 1, matrices uniform in ±1/√cols (xorshift32 seeded by the tensor's place). */
function randomTensor(spec: ParamSpec): Float32Array {
  const out = new Float32Array(spec.size);
  if (spec.shape.length === 1) return out.fill(1);
  const a = 1 / Math.sqrt(spec.shape[1]!);
  let x = (spec.offset % 2147483647) + 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 2 * a;
  }
  return out;
}

/** The cached file for a shape and type, written on first use. */
function ensureFile(tag: string, config: LlamaConfig, type: GgufExportType, log: (s: string) => void): string {
  const dir = path.join(repoRoot(), ".bench", "real-size");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${tag}-L${config.numHiddenLayers}-${type}.gguf`);
  if (fs.existsSync(file)) return file;
  const t0 = performance.now();
  log(`writing ${file} (${(paramLayout(config).total / 1e9).toFixed(2)}B parameters, ${type}) ...`);
  // With tokenizer keys: node-llama-cpp aborts on a no_vocab file.
  saveGgufFrom(file, config, randomTensor, { type, name: `${tag} random`, tokenizer: fs.readFileSync(tokenizerPath()) });
  log(`  ${(fs.statSync(file).size / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return file;
}

// ---- one engine in one child process ----

interface ChildResult {
  loadFirstTokenS: number;
  decodeTps: number;
  prefillTps: number;
  peakRssBytes: number;
}

interface ChildArgs {
  engine: "llama-ts" | "llama.cpp";
  file: string;
  threads: number;
  decode: number;
  prefill: number;
}

async function child(a: ChildArgs): Promise<ChildResult> {
  const { tokens, argmax, peerDecode, peerPrefill } = await import("./peers.js");
  const V = 32000;
  const prompt = tokens(a.prefill, V, 1);
  const dprompt = tokens(DECODE_PROMPT, V, 2);
  let decodeTps = 0;
  let prefillTps = 0;
  let loadFirstTokenS: number;
  if (a.engine === "llama-ts") {
    const { loadModel } = await import("../src/runtime/load.js");
    const lm = await loadModel(a.file);
    const model = lm.model;
    model.forward([1], model.newCache(8));
    loadFirstTokenS = performance.now() / 1000; // performance.now() counts from the process start
    if (a.decode > 0) {
      const cache = model.newCache(DECODE_PROMPT + a.decode + 8);
      let next = argmax(model.forward(dprompt, cache));
      const t0 = performance.now();
      for (let i = 0; i < a.decode; i++) next = argmax(model.forward([next], cache));
      decodeTps = a.decode / ((performance.now() - t0) / 1000);
    }
    if (a.prefill > 0) {
      const t0 = performance.now();
      model.forward(prompt, model.newCache(a.prefill + 8));
      prefillTps = a.prefill / ((performance.now() - t0) / 1000);
    }
  } else {
    const { openLlamaCpp } = await import("./peers/llama-cpp.js");
    const peer = await openLlamaCpp();
    const s = await peer.open(a.file, { threads: a.threads, contextSize: 1024, batchSize: PREFILL });
    await s.greedy([1], 1);
    loadFirstTokenS = performance.now() / 1000;
    if (a.decode > 0) decodeTps = await peerDecode(s, dprompt, a.decode);
    if (a.prefill > 0) prefillTps = await peerPrefill(s, prompt);
    await s.dispose();
    await peer.dispose();
  }
  return { loadFirstTokenS, decodeTps, prefillTps, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** The median of each column over runs (a failure if any run failed). */
function median(runs: Array<ChildResult | string>): ChildResult | string {
  const failed = runs.find((r): r is string => typeof r === "string");
  if (failed !== undefined) return failed;
  const ok = runs as ChildResult[];
  const med = (pick: (r: ChildResult) => number): number => {
    const v = ok.map(pick).sort((x, y) => x - y);
    const h = v.length >> 1;
    return v.length % 2 === 1 ? v[h]! : (v[h - 1]! + v[h]!) / 2;
  };
  return {
    loadFirstTokenS: med((r) => r.loadFirstTokenS),
    decodeTps: med((r) => r.decodeTps),
    prefillTps: med((r) => r.prefillTps),
    peakRssBytes: med((r) => r.peakRssBytes),
  };
}

/** Both engines `repeat` times, alternating; the medians. */
function runPair(a: Omit<ChildArgs, "engine">, repeat: number, withPeer: boolean): [ChildResult | string, ChildResult | string | undefined] {
  const ours: Array<ChildResult | string> = [];
  const peer: Array<ChildResult | string> = [];
  for (let i = 0; i < repeat; i++) {
    ours.push(runChild({ engine: "llama-ts", ...a }));
    if (withPeer) peer.push(runChild({ engine: "llama.cpp", ...a }));
  }
  return [median(ours), withPeer ? median(peer) : undefined];
}

function runChild(a: ChildArgs): ChildResult | string {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", JSON.stringify(a)], {
    encoding: "utf8",
    env: { ...process.env, LLAMA_TS_THREADS: String(a.threads) },
    maxBuffer: 64 << 20,
  });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as ChildResult;
  } catch {
    return `failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" / ")}`;
  }
}

// ---- the section ----

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const gib = (b: number): string => (b / 2 ** 30).toFixed(2);

function pair(ours: ChildResult | string, peer: ChildResult | string | undefined, pick: (r: ChildResult) => string): string {
  const one = (r: ChildResult | string | undefined): string => (r === undefined ? "–" : typeof r === "string" ? "failed" : pick(r));
  return `${one(ours)} / ${one(peer)}`;
}

export async function bench(argv: readonly string[] = process.argv.slice(2)): Promise<string> {
  const o = options(argv);
  const log = (s: string): void => void process.stderr.write(s + "\n");
  const st = peerStatus();
  const withPeer = st.installed;
  const config = o.layers === undefined ? TINYLLAMA : { ...TINYLLAMA, numHiddenLayers: o.layers };
  const types: GgufExportType[] = o.types ?? (o.f32 ? ["q8_0", "f16", "f32"] : ["q8_0", "f16"]);
  const rows: string[] = [];
  const failures: string[] = [];
  const note = (what: string, r: ChildResult | string | undefined): void => {
    if (typeof r === "string") failures.push(`${what}: ${r}`);
  };
  for (const type of types) {
    const file = ensureFile("tinyllama", config, type, log);
    for (const threads of o.threads) {
      const args = { file, threads, decode: o.decode, prefill: PREFILL };
      log(`${path.basename(file)}, ${threads} thread(s) ...`);
      const [ours, peer] = runPair(args, o.repeat, withPeer);
      note(`llama-ts ${type} ${threads}t`, ours);
      note(`llama.cpp ${type} ${threads}t`, peer);
      rows.push(
        `| ${type} (${gib(fs.statSync(file).size)} GiB) | ${threads} | ${pair(ours, peer, (r) => r.loadFirstTokenS.toFixed(2))} | ` +
          `${pair(ours, peer, (r) => fmt(r.decodeTps))} | ${pair(ours, peer, (r) => fmt(r.prefillTps))} | ${pair(ours, peer, (r) => gib(r.peakRssBytes))} |`,
      );
    }
  }
  const shapeName = `TinyLlama 1.1B shape (dim 2048, ${config.numHiddenLayers} layers, 32 heads / 4 KV heads, FFN 5632, vocab 32000)`;
  const out = [
    `## Real size: ${shapeName}, random weights, llama-ts / llama.cpp\n`,
    (withPeer ? `llama.cpp: node-llama-cpp ${st.version} (prebuilt CPU binary, mmap, flash attention off, F32 KV cache; decode and prefill from its perf counters).` : `llama.cpp not installed (${INSTALL_HINT}): its column shows –.`) +
      ` Each engine in its own child process; files in .bench/real-size/ (page cache warm after the first run). ` +
      `Decode: greedy, ${DECODE_PROMPT}-token prompt, ${o.decode} steps; prefill: one ${PREFILL}-token prompt. Each cell: llama-ts / llama.cpp` +
      (o.repeat > 1 ? `, the median of ${o.repeat} runs of each, alternating.` : "."),
    "",
    "| file | threads | load + first token s | decode tok/s | prefill tok/s | peak RSS GiB |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
  ];
  if (o.big) {
    const big = o.layers === undefined ? LLAMA_7B : { ...LLAMA_7B, numHiddenLayers: o.layers };
    const file = ensureFile("llama7b", big, "f16", log);
    const args = { file, threads: Math.max(...o.threads), decode: 4, prefill: 0 };
    log(`${path.basename(file)}: a few tokens ...`);
    const ours = runChild({ engine: "llama-ts", ...args });
    const peer = withPeer ? runChild({ engine: "llama.cpp", ...args }) : undefined;
    note("llama-ts 7B f16", ours);
    note("llama.cpp 7B f16", peer);
    out.push(
      `### LLaMA 7B shape (dim 4096, ${big.numHiddenLayers} layers, FFN 11008), f16 (${gib(fs.statSync(file).size)} GiB file), ${args.threads} thread(s), 4 decode steps\n`,
      "| load + first token s | decode tok/s | peak RSS GiB |",
      "|---|---|---|",
      `| ${pair(ours, peer, (r) => r.loadFirstTokenS.toFixed(2))} | ${pair(ours, peer, (r) => fmt(r.decodeTps))} | ${pair(ours, peer, (r) => gib(r.peakRssBytes))} |`,
      "",
    );
  }
  if (failures.length > 0) out.push("Failures:", "", ...failures.map((f) => `- ${f}`), "");
  return out.join("\n");
}

if (process.argv[2] === "--child") {
  const r = await child(JSON.parse(process.argv[3]!) as ChildArgs);
  process.stdout.write(JSON.stringify(r) + "\n");
  // node-llama-cpp may keep handles open; the result is out.
  process.exit(0);
}
