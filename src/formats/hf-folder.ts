/**
 * Model folders in the Hugging Face Llama layout: `config.json`, `model.safetensors` (or
 * shards with `model.safetensors.index.json`), optionally `tokenizer.model`. Loads are checked
 * (missing or extra tensors, shapes, NaN/Inf) and every failure names the file and the problem.
 * config.json must be a regular file of sane size, the config's sizes must fit in the bytes the
 * weight files hold before the parameter buffer is allocated, and every file read must resolve
 * inside the folder (util/files.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { quoteForTerminal, UserError } from "../util/errors.js";
import type { LlamaConfig } from "../model/config.js";
import { configFromHf, configToHf } from "../model/config.js";
import { checkConfigFitsBytes, paramLayout } from "../model/params.js";
import { MAX_TOKENIZER_BYTES, makeDir, readRegularFile, readRegularText, resolveInside, writeFileAtomic } from "../util/files.js";
import { openSafetensorsSet, writeSafetensors } from "./safetensors.js";

export { writeFileAtomic } from "../util/files.js";

export interface ModelFolder {
  dir: string;
  config: LlamaConfig;
  /** Contiguous parameters in `paramLayout(config)` order. */
  params: Float32Array;
  /** Path of `tokenizer.model` when the folder has one. */
  tokenizerPath: string | undefined;
}

/** Tensors some checkpoints carry that hold nothing we need (recomputed buffers). */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

/** A config.json larger than this is refused (real ones are a few KB). */
const MAX_CONFIG_BYTES = 16 << 20;

export function readConfig(dir: string): LlamaConfig {
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(dir)) throw new UserError(`model folder ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new UserError(`${dir} is not a folder (a model is a folder with config.json and model.safetensors)`);
  if (!fs.existsSync(file)) throw new UserError(`${file} is missing (a model folder needs config.json)`);
  const text = readRegularText(resolveInside(dir, "config.json"), { maxBytes: MAX_CONFIG_BYTES, what: "config" });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return configFromHf(raw, file);
}

export function loadModelFolder(dir: string): ModelFolder {
  const config = readConfig(dir);
  const set = openSafetensorsSet(dir);
  let params: Float32Array;
  try {
    // Every readable dtype takes at least 2 bytes (F16/BF16): refuse a config that cannot fit.
    const dataBytes = set.files.reduce((a, f) => a + (f.fileSize - f.dataStart), 0);
    checkConfigFitsBytes(config, dataBytes, 2, path.join(dir, "config.json"));
    const layout = paramLayout(config);
    params = new Float32Array(layout.total);
    const expected = new Set(layout.specs.map((s) => s.name));
    const extra = [...set.tensors.keys()].filter((n) => !expected.has(n) && !IGNORED.test(n));
    // A tied checkpoint may still carry a copy of the head; it must then equal the embedding,
    // which we check below, rather than being silently dropped.
    const tiedHeadCopy = config.tieWordEmbeddings && extra.includes("lm_head.weight");
    const unknown = extra.filter((n) => !(tiedHeadCopy && n === "lm_head.weight"));
    if (unknown.length > 0) {
      throw new UserError(`${dir}: unexpected tensors for a Llama model: ${unknown.slice(0, 5).map((n) => quoteForTerminal(n)).join(", ")}${unknown.length > 5 ? ` (+${unknown.length - 5} more)` : ""}`);
    }
    for (const spec of layout.specs) {
      const hit = set.tensors.get(spec.name);
      if (!hit) {
        const hint = spec.name === "lm_head.weight" ? ' (if the head shares the embedding, set "tie_word_embeddings": true in config.json)' : "";
        throw new UserError(`${dir}: tensor ${spec.name} is missing${hint}`);
      }
      const shape = hit.entry.shape;
      if (shape.length !== spec.shape.length || shape.some((v, i) => v !== spec.shape[i])) {
        throw new UserError(`${hit.file.path}: tensor ${spec.name} has shape [${shape.join(", ")}], config.json implies [${spec.shape.join(", ")}]`);
      }
      const data = set.readF32(spec.name);
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]!)) throw new UserError(`${hit.file.path}: tensor ${spec.name} holds a non-finite value (${data[i]}) at index ${i}`);
      }
      params.set(data, spec.offset);
    }
    if (tiedHeadCopy) {
      const head = set.readF32("lm_head.weight");
      const emb = layout.byName.get("model.embed_tokens.weight")!;
      for (let i = 0; i < head.length; i++) {
        if (head[i] !== params[emb.offset + i]) {
          throw new UserError(`${dir}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight`);
        }
      }
    }
  } finally {
    set.close();
  }
  const tok = path.join(dir, "tokenizer.model");
  return { dir, config, params, tokenizerPath: fs.existsSync(tok) ? resolveInside(dir, "tokenizer.model") : undefined };
}

/** Writes config.json and model.safetensors (F32), each atomically; copies a tokenizer if given. */
export function saveModelFolder(dir: string, config: LlamaConfig, params: Float32Array, opts: { tokenizerPath?: string } = {}): void {
  const layout = paramLayout(config);
  if (params.length !== layout.total) throw new Error(`params has ${params.length} floats, the config needs ${layout.total}`);
  makeDir(dir);
  writeSafetensors(
    path.join(dir, "model.safetensors"),
    layout.specs.map((s) => ({ name: s.name, shape: s.shape, data: params.subarray(s.offset, s.offset + s.size) })),
    { format: "pt" },
  );
  writeFileAtomic(path.join(dir, "config.json"), JSON.stringify(configToHf(config), null, 2) + "\n");
  if (opts.tokenizerPath && path.resolve(opts.tokenizerPath) !== path.resolve(dir, "tokenizer.model")) {
    writeFileAtomic(path.join(dir, "tokenizer.model"), readRegularFile(opts.tokenizerPath, { maxBytes: MAX_TOKENIZER_BYTES, what: "tokenizer" }));
  }
}
