/**
 * The source-agnostic half of reading a Hugging Face model folder: config.json text -> the
 * LlamaConfig, and the safetensors tensors (one file or shards, from disk or from bytes) ->
 * the contiguous float32 parameters in `paramLayout` order, checked: no missing or unexpected
 * tensors, shapes as the config implies, no NaN/Inf, a tied head's copy equal to the
 * embedding, and the config's sizes fitting in the bytes the weights hold before anything is
 * allocated. hf-folder.ts (Node, paths) and the browser loader (files' bytes) both use it.
 */
import { quoteForTerminal, UserError } from "../util/errors.js";
import type { LlamaConfig } from "../model/config.js";
import { configFromHf } from "../model/config.js";
import { checkConfigFitsBytes, paramLayout, type ParamLayout } from "../model/params.js";
import type { SafetensorsSet } from "./safetensors-read.js";

/** Tensors some checkpoints carry that hold nothing we need (recomputed buffers). */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

/** config.json's text (named `file` in messages) -> the LlamaConfig. */
export function configFromJsonText(text: string, file: string): LlamaConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return configFromHf(raw, file);
}

/** The parameters of `config` from the tensors of `set` (see the module comment); `where` names the folder. */
/**
 * The set's tensors against the config: no unknown tensor, none missing, every shape as the
 * config implies, and a config the files can hold. Returns the layout and whether a tied
 * checkpoint also carries a copy of the head (it must then equal the embedding: the caller
 * checks). Run before anything is sized from the config.
 */
export function checkSafetensorsSet(config: LlamaConfig, set: SafetensorsSet, where: string, configFile: string): { layout: ParamLayout; tiedHeadCopy: boolean } {
  // Every readable dtype takes at least 2 bytes (F16/BF16): refuse a config that cannot fit.
  const dataBytes = set.files.reduce((a, f) => a + (f.fileSize - f.dataStart), 0);
  checkConfigFitsBytes(config, dataBytes, 2, configFile);
  const layout = paramLayout(config);
  const expected = new Set(layout.specs.map((s) => s.name));
  const extra = [...set.tensors.keys()].filter((n) => !expected.has(n) && !IGNORED.test(n));
  // A tied checkpoint may still carry a copy of the head; it must then equal the embedding,
  // which the caller checks, rather than being silently dropped.
  const tiedHeadCopy = config.tieWordEmbeddings && extra.includes("lm_head.weight");
  const unknown = extra.filter((n) => !(tiedHeadCopy && n === "lm_head.weight"));
  if (unknown.length > 0) {
    throw new UserError(`${where}: unexpected tensors for a Llama model: ${unknown.slice(0, 5).map((n) => quoteForTerminal(n)).join(", ")}${unknown.length > 5 ? ` (+${unknown.length - 5} more)` : ""}`);
  }
  for (const spec of layout.specs) {
    const hit = set.tensors.get(spec.name);
    if (!hit) {
      const hint = spec.name === "lm_head.weight" ? ' (if the head shares the embedding, set "tie_word_embeddings": true in config.json)' : "";
      throw new UserError(`${where}: tensor ${spec.name} is missing${hint}`);
    }
    const shape = hit.entry.shape;
    if (shape.length !== spec.shape.length || shape.some((v, i) => v !== spec.shape[i])) {
      throw new UserError(`${hit.file.path}: tensor ${spec.name} has shape [${shape.join(", ")}], config.json implies [${spec.shape.join(", ")}]`);
    }
  }
  return { layout, tiedHeadCopy };
}

export function paramsFromSafetensors(config: LlamaConfig, set: SafetensorsSet, where: string, configFile: string): Float32Array {
  const { layout, tiedHeadCopy } = checkSafetensorsSet(config, set, where, configFile);
  const params = new Float32Array(layout.total);
  for (const spec of layout.specs) {
    const hit = set.tensors.get(spec.name)!;
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
        throw new UserError(`${where}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight`);
      }
    }
  }
  return params;
}
