/**
 * The model the browser tests run: the tiny eval model (2 layers, dim 48, SentencePiece
 * vocabulary of 1200) with its q and k projections scaled ×6 (so attention is far from uniform
 * and RoPE or q/k layout mistakes change the logits: DESIGN.md testing notes), written as a
 * GGUF of the given type with its tokenizer keys.
 */
import fs from "node:fs";
import path from "node:path";
import { fixturesDir } from "../helpers.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { saveGguf, type GgufExportType } from "../../src/formats/gguf-model.js";
import { paramLayout, tensorViews } from "../../src/model/params.js";
import { parseModelProto, type ModelProto } from "../../src/tokenizer/model-proto.js";
import type { LlamaConfig } from "../../src/model/config.js";

export const evalModelDir = path.join(fixturesDir, "eval", "model");

export interface TestGgufInputs {
  config: LlamaConfig;
  params: Float32Array;
  tokenizer: ModelProto;
}

/** Writes the model to `file`; returns what `saveGguf` was given. */
export function writeTestGguf(file: string, type: GgufExportType): TestGgufInputs {
  const folder = loadModelFolder(evalModelDir);
  const params = folder.params.slice();
  const views = tensorViews(folder.config, paramLayout(folder.config), params);
  for (const layer of views.layers) {
    for (const w of [layer.wq, layer.wk]) for (let i = 0; i < w.length; i++) w[i] = w[i]! * 6;
  }
  const tokenizer = parseModelProto(fs.readFileSync(path.join(evalModelDir, "tokenizer.model")));
  saveGguf(file, folder.config, params, { type, tokenizer });
  return { config: folder.config, params, tokenizer };
}
