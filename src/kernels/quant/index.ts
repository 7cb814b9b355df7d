/**
 * The quantisation registry: every stored weight type llama-ts reads, writes and multiplies,
 * one module per type (see ./format.ts for the contract). GGUF's type tables, the CLI's --type
 * choices and the native addon's type check derive from this list; the C side has the matching
 * table in native/quant.c (`lt_qtypes`). Adding a type: one module here, one entry there, tests.
 */
import { f16 } from "./f16.js";
import { q8_0 } from "./q8_0.js";
import { q4_0 } from "./q4_0.js";
import { q4_K } from "./q4_K.js";
import { q5_K } from "./q5_K.js";
import { q6_K } from "./q6_K.js";
import { q3_K } from "./q3_K.js";
import { q2_K } from "./q2_K.js";
import { bf16 } from "./bf16.js";
import type { QuantFormat } from "./format.js";

export type { QuantFormat, ActivationRow } from "./format.js";

export const QUANT_FORMATS = [f16, q8_0, q4_0, q4_K, q5_K, q6_K, q3_K, q2_K, bf16] as const;

export type QuantType = (typeof QUANT_FORMATS)[number]["name"];

export const QUANT_TYPES: readonly QuantType[] = QUANT_FORMATS.map((f) => f.name);

const byName = new Map<string, QuantFormat<QuantType>>(QUANT_FORMATS.map((f) => [f.name, f]));
const byId = new Map<number, QuantFormat<QuantType>>(QUANT_FORMATS.map((f) => [f.ggmlId, f]));

export function quantFormat(type: QuantType): QuantFormat<QuantType> {
  const f = byName.get(type);
  if (!f) throw new RangeError(`unknown quantisation type ${String(type)}`);
  return f;
}

/** The registered format with GGML type id `id`, if any. */
export function quantFormatById(id: number): QuantFormat<QuantType> | undefined {
  return byId.get(id);
}

export function isQuantType(t: string): t is QuantType {
  return byName.has(t);
}
