/**
 * tokenizer_config.json as the runtime reads it (bos/eos/unk/pad tokens, add_bos_token /
 * add_eos_token, the chat template), parsed from text so that the Node loader (files) and the
 * browser loader (bytes) share it.
 */
import { UserError } from "../util/errors.js";

/** What transformers reads from tokenizer_config.json that matters to us; absent keys stay undefined. */
export interface TokenizerConfig {
  addBosToken?: boolean;
  addEosToken?: boolean;
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
  /** The Jinja chat template (the "default" one when the file lists several by name). */
  chatTemplate?: string;
}

/** tokenizer_config.json's text (named `file` in messages) -> what the runtime uses. Malformed text is a UserError. */
export function parseTokenizerConfig(text: string, file: string): TokenizerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`${file} must hold a JSON object`);
  const o = raw as Record<string, unknown>;
  const out: TokenizerConfig = {};
  if (typeof o.add_bos_token === "boolean") out.addBosToken = o.add_bos_token;
  if (typeof o.add_eos_token === "boolean") out.addEosToken = o.add_eos_token;
  const tokens = { bosToken: "bos_token", eosToken: "eos_token", unkToken: "unk_token", padToken: "pad_token" } as const;
  for (const [key, name] of Object.entries(tokens) as [keyof typeof tokens, string][]) {
    const v = tokenText(o[name]);
    if (v !== undefined) out[key] = v;
  }
  const ct = o.chat_template;
  if (typeof ct === "string") out.chatTemplate = ct;
  else if (Array.isArray(ct)) {
    // [{name, template}, ...]: transformers uses the one named "default".
    const named = ct.filter((t): t is { name: string; template: string } => typeof t === "object" && t !== null && typeof t.template === "string");
    const def = named.find((t) => t.name === "default") ?? named[0];
    if (def) out.chatTemplate = def.template;
  }
  return out;
}

/** A special token in tokenizer_config.json: a string or an AddedToken object {"content": ...}. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

