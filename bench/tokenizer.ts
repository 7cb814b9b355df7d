/**
 * Tokenizer encode throughput (MB/s of UTF-8 input) on the real LLaMA tokenizer.model, next
 * to SentencePiece's own C++ encoder (Debian's Python binding, one call per line, measured in
 * the same run on the same text) when /usr/bin/python3 has it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { SentencePieceTokenizer } from "../src/tokenizer/index.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const llamaModel = path.resolve(repoRoot, "..", "shared", "fixtures", "llama-tokenizer.model");
const fixtureLines = path.join(repoRoot, "test", "fixtures", "tokenizer", "lines.json.gz");
const TARGET_BYTES = 4_000_000;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * ~4 MB of varied lines: half the parity fixture lines (prose, code, digits, emoji, CJK,
 * rare scripts, whitespace runs), half new sentences from their words with random changes
 * (case, digits, suffixes) so that most words are not simply repeated.
 */
function makeText(): string[] {
  const base = (JSON.parse(gunzipSync(readFileSync(fixtureLines)).toString("utf8")) as { lines: string[] }).lines.filter((l) => !l.includes("\n"));
  const words = base.flatMap((l) => l.split(" ")).filter((w) => w.length > 0);
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const out: string[] = [];
  let bytes = 0;
  while (bytes < TARGET_BYTES) {
    let line: string;
    if (r() < 0.5) line = pick(base);
    else {
      const n = 3 + Math.floor(r() * 20);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        let w = pick(words);
        const k = r();
        if (k < 0.1) w = w.toUpperCase();
        else if (k < 0.2) w = w + Math.floor(r() * 1000);
        else if (k < 0.3) w = w + pick(["ing", "ed", "ly", "ness", "s", "ér", "ция", "性"]);
        parts.push(w);
      }
      line = parts.join(r() < 0.1 ? "  " : " ");
    }
    out.push(line);
    bytes += Buffer.byteLength(line) + 1;
  }
  return out;
}

interface SpmResult {
  version: string;
  seconds: number;
  tokens: number;
  longSeconds: number;
}

function runSentencePiece(linesFile: string, longFile: string): SpmResult | string {
  const python = "/usr/bin/python3";
  if (!existsSync(python)) return "not installed (no /usr/bin/python3)";
  const script = `
import json, sys, time
try:
    import sentencepiece as spm
except ImportError:
    print(json.dumps({"missing": True})); sys.exit(0)
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
lines = json.load(open(sys.argv[2], encoding="utf-8"))
long = open(sys.argv[3], encoding="utf-8").read()
for l in lines[:2000]: sp.encode(l)
best = None
for rep in range(2):
    t = time.perf_counter(); n = 0
    for l in lines: n += len(sp.encode(l))
    dt = time.perf_counter() - t
    best = dt if best is None or dt < best else best
t = time.perf_counter(); sp.encode(long); lt = time.perf_counter() - t
print(json.dumps({"version": spm.__version__, "seconds": best, "tokens": n, "longSeconds": lt}))
`;
  const res = spawnSync(python, ["-c", script, llamaModel, linesFile, longFile], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (res.status !== 0) return `failed: ${(res.stderr || "").trim().split("\n").pop()}`;
  const parsed = JSON.parse(res.stdout) as SpmResult & { missing?: boolean };
  if (parsed.missing) return "not installed (python3-sentencepiece)";
  return parsed;
}

export async function bench(): Promise<string> {
  const title = "## Tokenizer: encode throughput, LLaMA tokenizer.model";
  if (!existsSync(llamaModel)) return `${title}\n\nSkipped: ${llamaModel} is absent.\n`;
  const lines = makeText();
  const totalBytes = lines.reduce((s, l) => s + Buffer.byteLength(l) + 1, 0);
  const r = rng(7);
  const long = Array.from({ length: 1 << 20 }, () => "abcdefghijklmnopqrstuvwxyz"[Math.floor(r() * 26)]).join("");

  // Warm V8's optimising tiers on one instance, then time fresh instances (cold segment cache).
  const warm = SentencePieceTokenizer.fromFile(llamaModel);
  for (const l of lines.slice(0, 20000)) warm.encode(l);
  let coldBest = Infinity;
  let warmBest = Infinity;
  let tokens = 0;
  for (let rep = 0; rep < 2; rep++) {
    const tok = SentencePieceTokenizer.fromFile(llamaModel);
    let t0 = performance.now();
    tokens = 0;
    for (const l of lines) tokens += tok.encode(l).length;
    coldBest = Math.min(coldBest, (performance.now() - t0) / 1000);
    t0 = performance.now();
    for (const l of lines) tok.encode(l);
    warmBest = Math.min(warmBest, (performance.now() - t0) / 1000);
  }
  let t0 = performance.now();
  warm.encode(long);
  const longSeconds = (performance.now() - t0) / 1000;

  const dir = mkdtempSync(path.join(tmpdir(), "llama-ts-bench-"));
  let spm: SpmResult | string;
  try {
    const linesFile = path.join(dir, "lines.json");
    const longFile = path.join(dir, "long.txt");
    writeFileSync(linesFile, JSON.stringify(lines));
    writeFileSync(longFile, long);
    spm = runSentencePiece(linesFile, longFile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const mb = totalBytes / 1e6;
  const rows = [
    `| llama-ts (fresh tokenizer, empty segment cache) | ${(mb / coldBest).toFixed(2)} | ${tokens} | ${(longSeconds * 1000).toFixed(0)} ms |`,
    `| llama-ts (second pass, warm segment cache) | ${(mb / warmBest).toFixed(2)} | ${tokens} | |`,
  ];
  if (typeof spm === "string") rows.push(`| SentencePiece (C++, Python binding) | ${spm} | | |`);
  else {
    const same = spm.tokens === tokens ? "" : ` (token count differs: ${spm.tokens})`;
    rows.push(`| SentencePiece ${spm.version} (C++ via the Python binding, one call per line) | ${(mb / spm.seconds).toFixed(2)} | ${spm.tokens}${same} | ${(spm.longSeconds * 1000).toFixed(0)} ms |`);
  }
  return [
    title,
    "",
    `${mb.toFixed(1)} MB of varied text in ${lines.length} lines (prose, code, digits, emoji, CJK, rare scripts, whitespace runs; half are new word mixes), ` +
      "encoded one line at a time without BOS/EOS; best of 2 passes. Last column: one 1 MB line of random letters without spaces.",
    "",
    "| encoder | MB/s | tokens | 1 MB line, no spaces |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
