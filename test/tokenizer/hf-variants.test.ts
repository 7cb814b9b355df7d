/**
 * tokenizer.json variants seen across the LLaMA family (Metaspace pre-tokenizer and decoder as
 * in Mistral/TinyLlama releases, merges as pairs, added tokens with lstrip/rstrip or
 * normalized: true, ByteLevel with GPT-2's regex), made by editing the real files and compared
 * with Hugging Face's Rust tokenizers on the same edited JSON.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Tokenizer as HfRust } from "@anush008/tokenizers";
import { HfTokenizer } from "../../src/tokenizer/hf-json.js";
import { corpus, diffReport, llama2Dir, llama3Dir, rustIds, tricky } from "./hf-reference.js";

type Obj = Record<string, unknown>;
const llama2 = JSON.parse(readFileSync(path.join(llama2Dir, "tokenizer.json"), "utf8")) as Obj;
const llama3 = JSON.parse(readFileSync(path.join(llama3Dir, "tokenizer.json"), "utf8")) as Obj;
const allTexts = [...tricky, "<tool> call <tool>  x", "hello xyzzy, xyzzy!xyzzy", "well-known e-mail -- a-", ...corpus.slice(0, 400)];
const model2 = llama2.model as Obj;
const added2 = llama2.added_tokens as Obj[];

const metaspace = (scheme: string, split: boolean): Obj => ({ type: "Metaspace", replacement: "\u2581", prepend_scheme: scheme, split });

const variants: [string, Obj][] = [
  ["Metaspace pre-tokenizer (prepend_scheme first, no split) + Metaspace decoder", { ...llama2, normalizer: null, pre_tokenizer: metaspace("first", false), decoder: metaspace("first", false) }],
  ["Metaspace pre-tokenizer (always, split) + Metaspace decoder", { ...llama2, normalizer: null, pre_tokenizer: metaspace("always", true), decoder: metaspace("always", true) }],
  ["Split on a plain string (\"-\")", { ...llama2, pre_tokenizer: { type: "Split", pattern: { String: "-" }, behavior: "Isolated", invert: false } }],
  ["merges as [a, b] pairs", { ...llama2, model: { ...model2, merges: (model2.merges as string[]).map((m) => m.split(" ")) } }],
  [
    "added tokens: lstrip/rstrip, non-special, normalized: true",
    {
      ...llama2,
      added_tokens: [
        ...added2,
        { id: 32000, content: "<tool>", single_word: false, lstrip: true, rstrip: true, normalized: false, special: false },
        { id: 32001, content: "[INST]", single_word: false, lstrip: false, rstrip: true, normalized: false, special: true },
        // Matched in the normalised text ('▁' for spaces): "xyzzy" inside "▁xyzzy" too.
        { id: 32002, content: "xyzzy", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
      ],
    },
  ],
  [
    "Llama 3.1's post-processor: Sequence[ByteLevel, TemplateProcessing <|begin_of_text|> $A]",
    {
      ...llama3,
      post_processor: {
        type: "Sequence",
        processors: [
          { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
          {
            type: "TemplateProcessing",
            single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
            pair: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
            special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] } },
          },
        ],
      },
    },
  ],
  ["ByteLevel with GPT-2's regex", { ...llama3, pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true } }],
];

for (const [name, json] of variants) {
  test(`${name}: same ids and text as HF tokenizers`, async () => {
    const text = JSON.stringify(json);
    // The 128k-token files are slower to load twice; fewer lines keep the test short.
    const texts = (json.model as Obj).byte_fallback === true ? allTexts : allTexts.slice(0, 150);
    const rust = HfRust.fromString(text);
    const ours = HfTokenizer.fromJson(text);
    const want = await rustIds(rust, texts);
    const got = texts.map((t) => ours.encode(t, { parseSpecial: true }));
    assert.equal(diffReport(texts, got, want), "");
    for (const ids of want.slice(0, 200)) assert.equal(ours.decode(ids), await rust.decode(ids, true), `ids ${ids.join(",")}`);
    // BOS as HF's post-processor adds it (when the template has one).
    if (ours.templateAddsBos) {
      const sample = texts.slice(0, 100);
      assert.equal(diffReport(sample, sample.map((t) => ours.encode(t, { bos: true, parseSpecial: true })), await rustIds(rust, sample, true)), "");
    }
  });
}
