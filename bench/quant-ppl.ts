/**
 * Perplexity cost of each weight type on held-out text, beside its size: the model `npm start`
 * trains (runs/start/model), its held-out documents (the books and bible validation split of
 * runs/start/data, decoded), and f16/q8_0/q6_K/q5_K_M/q4_K_M/q4_0 GGUF files made from it with `llama-ts quantize`.
 * Skips when `npm start` has not been run.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readManifest } from "../src/data/index.js";
import { SentencePieceTokenizer } from "../src/tokenizer/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const cli = path.join(root, "dist", "src", "cli", "main.js");

function heldOutText(runRoot: string): string {
  const tok = SentencePieceTokenizer.fromFile(path.join(runRoot, "tokenizer.model"));
  const dataDir = path.join(runRoot, "data");
  const docs: string[] = [];
  for (const s of readManifest(dataDir).sources.filter((x) => x.name !== "code")) {
    for (const shard of s.val.shards) {
      const b = fs.readFileSync(path.join(dataDir, shard.file));
      const ids = new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
      let cur: number[] = [];
      for (const id of ids) {
        if (id === tok.bosId) cur = [];
        else if (id === tok.eosId) docs.push(tok.decode(cur));
        else cur.push(id);
      }
    }
  }
  return docs.join("\n\n");
}

export async function bench(): Promise<string> {
  const runRoot = path.join(root, "runs", "start");
  const model = path.join(runRoot, "model");
  const title = "## Quantisation: perplexity cost on held-out text (the `npm start` model)";
  if (!fs.existsSync(path.join(model, "model.safetensors"))) return `${title}\n\nSkipped: run \`npm start\` first (it trains the model this section measures).\n`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-qppl-"));
  const text = path.join(tmp, "heldout.txt");
  fs.writeFileSync(text, heldOutText(runRoot));
  const rows: string[] = [];
  let base = NaN;
  for (const type of ["f32", "f16", "q8_0", "q6_K", "q5_K_M", "q4_K_M", "q4_0"]) {
    let target = model;
    let size = fs.statSync(path.join(model, "model.safetensors")).size;
    if (type !== "f32") {
      target = path.join(tmp, `model-${type}.gguf`);
      const q = spawnSync(process.execPath, [cli, "quantize", "--model", model, "--type", type, "--out", target], { encoding: "utf8" });
      if (q.status !== 0) { rows.push(`| ${type} | failed: ${q.stderr.trim()} | | | |`); continue; }
      size = fs.statSync(target).size;
    }
    const r = spawnSync(process.execPath, [cli, "eval", "--model", target, "--task", "perplexity", "--data", text, "--json"], { encoding: "utf8" });
    if (r.status !== 0) { rows.push(`| ${type} | ${(size / 2 ** 20).toFixed(2)} | failed: ${r.stderr.trim()} | | |`); continue; }
    const m = (JSON.parse(r.stdout.trim().split("\n").pop()!) as { metrics: { token_perplexity: number; bits_per_byte: number } }).metrics;
    if (type === "f32") base = m.token_perplexity;
    const cost = ((m.token_perplexity / base - 1) * 100).toFixed(3);
    rows.push(`| ${type} | ${(size / 2 ** 20).toFixed(2)} | ${m.token_perplexity.toFixed(3)} | ${m.bits_per_byte.toFixed(4)} | ${type === "f32" ? "—" : `+${cost} %`} |`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return [
    title,
    "",
    `Held-out text: the books and bible validation documents of runs/start/data, decoded; token perplexity over non-overlapping windows. Speed per type: see the quantised decode/prefill table. K-quants need rows of whole 256-value super-blocks: matrices with shorter rows (dim 192 here: all but ffn_down) fall back to q8_0 in the K-quant files (llama.cpp falls back to q5_0/q5_1/q8_0).`,
    "",
    "| weights | file MiB | token perplexity | bits per byte | perplexity cost |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
