/** Loading a ready-to-run model from a GGUF file (weights kept in their stored f16/q8_0/q4_0 blocks). */
import type { Backend } from "../kernels/types.js";
import { loadGgufTensors } from "../formats/gguf-model.js";
import type { ModelProto } from "../tokenizer/model-proto.js";
import { LlamaModel } from "./llama.js";

export function loadGgufModel(path: string, backend?: Backend): { model: LlamaModel; tokenizer: ModelProto | undefined; fileType: number | undefined } {
  const g = loadGgufTensors(path);
  return { model: new LlamaModel(g.config, g.tensors, backend), tokenizer: g.tokenizer, fileType: g.fileType };
}
