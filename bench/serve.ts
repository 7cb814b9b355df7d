/**
 * `llama-ts serve` under load: aggregate decode tokens/s with 1, 4 and 16 concurrent streaming
 * requests (the continuous-batching gain) and time to first token p50/p99, on the `npm start`
 * model (runs/start/model when trained, else a random model of its shape) and a stories15M-shape
 * random model, in-process over
 * real HTTP (fetch + server-sent events).
 *
 * Each request: a fixed 32-token prompt (different per request), `max_tokens` generated with
 * `ignore_eos`, greedy. Aggregate tokens/s = all generated tokens / wall time from the first
 * request sent to the last stream ended; TTFT = request sent → first token event.
 *
 * `node dist/bench/serve.js` runs it alone.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { presetConfig, type LlamaConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { saveModelFolder } from "../src/formats/hf-folder.js";
import { demoConfig } from "../src/train/demo.js";
import { openServer } from "../src/serve/start.js";

const CONCURRENCY = [1, 4, 16];
const PROMPT_TOKENS = 32;

interface LoadResult {
  streams: number;
  tokens: number;
  seconds: number;
  ttftMs: number[];
}

/** One streaming completion; resolves with (TTFT ms, generated tokens). */
async function streamOnce(url: string, prompt: number[], maxTokens: number): Promise<{ ttft: number; tokens: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = NaN;
  let tokens = 0;
  let buf = "";
  const decoder = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (Number.isNaN(ttft)) ttft = performance.now() - t0;
    buf += decoder.decode(part, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const msg = JSON.parse(event.slice(6)) as { usage?: { completion_tokens: number } };
      if (msg.usage) tokens = msg.usage.completion_tokens;
    }
  }
  return { ttft, tokens };
}

async function load(url: string, vocab: number, streams: number, maxTokens: number): Promise<LoadResult> {
  const prompts = Array.from({ length: streams }, (_, s) => Array.from({ length: PROMPT_TOKENS }, (_, i) => 3 + ((s * 131 + i * 7919) % (vocab - 3))));
  const t0 = performance.now();
  const rs = await Promise.all(prompts.map((p) => streamOnce(url, p, maxTokens)));
  const seconds = (performance.now() - t0) / 1000;
  return { streams, tokens: rs.reduce((s, r) => s + r.tokens, 0), seconds, ttftMs: rs.map((r) => r.ttft) };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function benchModel(label: string, modelDir: string, maxTokens: number): Promise<string[]> {
  const server = await openServer({ model: modelDir, parallel: Math.max(...CONCURRENCY), maxQueue: 64, log: () => {} });
  const { url } = await server.listen(0, "127.0.0.1");
  const vocab = server.model.vocabSize;
  const rows: string[] = [];
  try {
    await load(url, vocab, 2, 4); // warm-up (V8 tiers, thread pool start)
    for (const c of CONCURRENCY) {
      const r = await load(url, vocab, c, maxTokens);
      rows.push(
        `| ${label} | ${c} | ${(r.tokens / r.seconds).toFixed(1)} | ${(r.tokens / r.seconds / c).toFixed(1)} | ` +
          `${percentile(r.ttftMs, 50).toFixed(0)} | ${percentile(r.ttftMs, 99).toFixed(0)} |`,
      );
    }
  } finally {
    await server.close(1000);
  }
  return rows;
}

export async function bench(): Promise<string> {
  const rows: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bench-serve-"));
  const randomModel = (name: string, config: LlamaConfig): string => {
    const modelDir = path.join(dir, name);
    saveModelFolder(modelDir, config, initParams(config, 1));
    return modelDir;
  };
  try {
    // The npm start model when it has been trained; otherwise a random model of its shape (same speed).
    const startModel = path.resolve("runs", "start", "model");
    if (fs.existsSync(path.join(startModel, "config.json"))) rows.push(...(await benchModel("npm start model (runs/start/model)", startModel, 64)));
    else rows.push(...(await benchModel("npm start shape (2.4M), random f32", randomModel("start-shape", demoConfig(2048)), 64)));
    const config = { ...presetConfig("stories15M"), maxPositionEmbeddings: 512 };
    rows.push(...(await benchModel("stories15M shape, random f32", randomModel("stories15M-random", config), 64)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return [
    "## Server: concurrent streams (`llama-ts serve`, continuous batching)",
    "",
    `In-process server, \`--parallel ${Math.max(...CONCURRENCY)}\`, all kernel threads; each request streams 64 greedy tokens after a ` +
      `${PROMPT_TOKENS}-token prompt (ignore_eos) over HTTP. Aggregate = all generated tokens / wall time; TTFT = request → first token event.`,
    "",
    "| model | concurrent streams | aggregate decode tok/s | per stream tok/s | TTFT p50 ms | TTFT p99 ms |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(await bench());
