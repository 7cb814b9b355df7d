/**
 * Megatron-LM / NeMo indexed datasets (the "MMapIndexedDataset" `.bin` + `.idx` pair), so a
 * mixture prepared here can be trained on a cluster by an existing distributed trainer.
 *
 * `.bin`: every sequence's tokens back to back, little-endian, in the index's dtype.
 * `.idx`, little-endian:
 *   9 bytes   magic "MMIDIDX\0\0"
 *   u64       version (1)
 *   u8        dtype code (4 = int32, 8 = uint16)
 *   u64       S, the number of sequences
 *   u64       K, the number of document indices (documents + 1)
 *   i32[S]    sequence lengths, in tokens
 *   i64[S]    sequence pointers: byte offset of each sequence in the .bin
 *   i64[K]    document indices: 0, then the index one past each document's last sequence
 * Here each document is one sequence, laid out as in the prepared shards: BOS, tokens, EOS.
 * One pair per source and split (`megatron/<source>_train`, `_val`) and a `megatron/blend.txt`
 * with the mixture's weights in Megatron's `--data-path w1 prefix1 w2 prefix2 ...` form.
 */
import fs from "node:fs";
import path from "node:path";
import { loadTokens, type Manifest } from "./shards.js";
import { writeFileAtomicSync } from "./shards.js";

export const MEGATRON_MAGIC = Uint8Array.from([0x4d, 0x4d, 0x49, 0x44, 0x49, 0x44, 0x58, 0x00, 0x00]);
export const MEGATRON_DTYPE_CODE = { uint16: 8, int32: 4 } as const;

/** Splits a token stream of BOS … EOS documents into documents (each ending at an EOS). */
export function splitDocuments(tokens: Uint16Array | Int32Array, eosId: number): Array<[number, number]> {
  const docs: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === eosId) { docs.push([start, i + 1]); start = i + 1; }
  }
  if (start < tokens.length) docs.push([start, tokens.length]);
  return docs;
}

/** The .idx bytes for documents of the given lengths (one sequence each). */
export function megatronIndex(lengths: readonly number[], dtype: keyof typeof MEGATRON_DTYPE_CODE): Uint8Array {
  const S = lengths.length;
  const size = 9 + 8 + 1 + 8 + 8 + 4 * S + 8 * S + 8 * (S + 1);
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  buf.set(MEGATRON_MAGIC, 0);
  let o = 9;
  dv.setBigUint64(o, 1n, true); o += 8;
  dv.setUint8(o, MEGATRON_DTYPE_CODE[dtype]); o += 1;
  dv.setBigUint64(o, BigInt(S), true); o += 8;
  dv.setBigUint64(o, BigInt(S + 1), true); o += 8;
  for (const len of lengths) { dv.setInt32(o, len, true); o += 4; }
  const itemBytes = dtype === "uint16" ? 2 : 4;
  let pointer = 0;
  for (const len of lengths) { dv.setBigInt64(o, BigInt(pointer), true); o += 8; pointer += len * itemBytes; }
  for (let i = 0; i <= S; i++) { dv.setBigInt64(o, BigInt(i), true); o += 8; }
  return buf;
}

export interface MegatronOutput { prefix: string; source: string; split: "train" | "val"; documents: number; tokens: number }

/** Writes DIR/megatron/ from the prepared dataset in DIR (its manifest and shards). */
export function writeMegatronDatasets(dir: string, manifest: Manifest): MegatronOutput[] {
  const outDir = path.join(dir, "megatron");
  fs.mkdirSync(outDir, { recursive: true });
  const outputs: MegatronOutput[] = [];
  for (const s of manifest.sources) {
    for (const split of ["train", "val"] as const) {
      const info = s[split];
      if (info.tokens === 0) continue;
      const tokens = loadTokens(info.shards.map((sh) => ({ path: path.join(dir, sh.file), tokens: sh.tokens })), manifest.dtype);
      const docs = splitDocuments(tokens, manifest.tokenizer.eosId);
      const prefix = path.join(outDir, `${s.name}_${split}`);
      writeFileAtomicSync(prefix + ".bin", new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
      writeFileAtomicSync(prefix + ".idx", megatronIndex(docs.map(([a, b]) => b - a), manifest.dtype));
      outputs.push({ prefix, source: s.name, split, documents: docs.length, tokens: tokens.length });
    }
  }
  const blend = manifest.sources.filter((s) => s.train.tokens > 0).map((s) => `${s.weight} ${path.resolve(outDir, `${s.name}_train`)}`).join(" ");
  writeFileAtomicSync(path.join(outDir, "blend.txt"), blend + "\n");
  return outputs;
}
