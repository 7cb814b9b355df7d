/**
 * Which type each tensor of a GGUF file gets for a requested file type: llama.cpp's rules
 * (`llama_tensor_get_type` in src/llama-quant.cpp) for the types llama-ts writes.
 *
 *   - 1-D tensors (norms) stay f32.
 *   - q4_0 files: output.weight q8_0 (llama.cpp uses q6_K; kept from before K-quants).
 *   - K-quant files (q2_K, q3_K, q4_K, q5_K, q6_K, q4_K_M, q5_K_M): output.weight (token_embd.weight
 *     when the head is tied to it) is q6_K; plain q2_K..q6_K files store every other matrix in
 *     that type (llama.cpp's q2_K/q3_K_S/q4_K_S/q5_K_S mixtures raise a few more tensors; not
 *     reproduced: these are the "pure" types plus the q6_K head).
 *   - q4_K_M and q5_K_M: attn_v.weight and ffn_down.weight are q6_K in the layers where
 *     `useMoreBits(i, n)`: the first eighth, the last eighth, and every third layer in between
 *     (i ≥ n/8 and (i − n/8) % 3 == 2); every other matrix is q4_K / q5_K.
 *   - A matrix whose rows are not whole blocks of its type falls back to q8_0 (rows of
 *     multiples of 32), else f16 (llama.cpp falls back to q5_0/q5_1/q8_0, which llama-ts does not
 *     write; q8_0 is the more precise choice).
 */
import type { QuantType } from "../kernels/quant/index.js";
import { canQuantize } from "../kernels/quant.js";

/** The file types `saveGguf` writes (`--type` of quantize and convert). */
export const GGUF_FILE_TYPES = ["f32", "f16", "q8_0", "q4_0", "q6_K", "q5_K", "q4_K", "q5_K_M", "q4_K_M", "q3_K", "q2_K"] as const;
export type GgufFileType = (typeof GGUF_FILE_TYPES)[number];

/** llama.cpp's general.file_type (LLAMA_FTYPE_*); plain q3_K/q4_K/q5_K are filed as their _S variants. */
export const GGUF_FILE_TYPE_ID: Readonly<Record<GgufFileType, number>> = {
  f32: 0, f16: 1, q4_0: 2, q8_0: 7, q2_K: 10, q3_K: 11, q4_K: 14, q4_K_M: 15, q5_K: 16, q5_K_M: 17, q6_K: 18,
};

/** llama.cpp's use_more_bits(i_layer, n_layers). */
export function useMoreBits(i: number, n: number): boolean {
  const e = Math.floor(n / 8);
  return i < e || i >= Math.floor((7 * n) / 8) || (i - e) % 3 === 2;
}

function baseType(t: Exclude<GgufFileType, "f32">): QuantType {
  return t === "q4_K_M" ? "q4_K" : t === "q5_K_M" ? "q5_K" : t;
}

/**
 * The storage type ("f32" or a registry type) of tensor `ggufName` (e.g. "blk.3.attn_v.weight")
 * with PyTorch shape `shape` in a file of `fileType` for a model of `nLayers` layers;
 * `tiedOutput`: the file has no output.weight (token_embd.weight is the head).
 */
export function ggufTensorType(fileType: GgufFileType, ggufName: string, shape: readonly number[], nLayers: number, tiedOutput: boolean): QuantType | "f32" {
  if (shape.length === 1 || fileType === "f32") return "f32";
  const cols = shape[shape.length - 1]!;
  const kquant = fileType.includes("_K");
  const isHead = ggufName === "output.weight" || (tiedOutput && ggufName === "token_embd.weight");
  let want = baseType(fileType);
  if (fileType === "q4_0" && ggufName === "output.weight") want = "q8_0";
  else if (kquant && isHead) want = "q6_K";
  else if (fileType === "q4_K_M" || fileType === "q5_K_M") {
    const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(ggufName);
    if (m && useMoreBits(Number(m[1]), nLayers)) want = "q6_K";
  }
  if (canQuantize(want, cols)) return want;
  return canQuantize("q8_0", cols) ? "q8_0" : "f16";
}
