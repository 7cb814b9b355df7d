/**
 * One way to open a tokenizer from disk, whatever its format:
 *
 *   loadTokenizer("tokenizer.model")  SentencePiece model -> SentencePieceTokenizer
 *   loadTokenizer("tokenizer.json")   Hugging Face tokenizers file -> HfTokenizer
 *   loadTokenizer("folder")           the folder's tokenizer.model when it is a SentencePiece
 *                                     model (LLaMA's reference tokenizer: the same ids as its
 *                                     tokenizer.json, and it converts to GGUF and llama2.c
 *                                     vocabularies), else its tokenizer.json (Llama 3 folders,
 *                                     whose original tokenizer.model is tiktoken's), with
 *                                     tokenizer_config.json's bos_token / eos_token applied
 *                                     to a tokenizer.json.
 *
 * A file with another name is recognised by its content (JSON object or protobuf).
 * readTokenizerConfig(dir) reads the parts of tokenizer_config.json the runtime uses.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import path from "node:path";
import { statRegularFile } from "../util/files.js";
import { UserError } from "../util/errors.js";
import { HfTokenizer } from "./hf-json.js";
import { SentencePieceTokenizer } from "./tokenizer.js";
import type { Tokenizer } from "./types.js";

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

/** Reads DIR/tokenizer_config.json; undefined when there is none. Malformed files are a UserError. */
export function readTokenizerConfig(dir: string): TokenizerConfig | undefined {
  const file = path.join(dir, "tokenizer_config.json");
  if (!isFile(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
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

/** Opens a tokenizer.model, a tokenizer.json, or a folder holding either (see the file comment). */
export function loadTokenizer(p: string): Tokenizer {
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new UserError(`cannot read tokenizer ${p}: no such file or folder`);
  }
  if (st.isDirectory()) {
    const json = path.join(p, "tokenizer.json");
    const model = path.join(p, "tokenizer.model");
    if (isFile(model)) {
      try {
        return SentencePieceTokenizer.fromFile(model);
      } catch (e) {
        if (!(e instanceof UserError) || !isFile(json)) throw e; // not SentencePiece (e.g. tiktoken): use tokenizer.json
      }
    }
    if (isFile(json)) return loadHfJson(json);
    throw new UserError(`${p} holds neither tokenizer.json nor tokenizer.model`);
  }
  if (!st.isFile()) statRegularFile(p, "tokenizer"); // throws, naming what it is

  return looksLikeJson(p) ? loadHfJson(p) : SentencePieceTokenizer.fromFile(p);
}

function loadHfJson(file: string): HfTokenizer {
  const config = readTokenizerConfig(path.dirname(file));
  return HfTokenizer.fromFile(file, { bosToken: config?.bosToken, eosToken: config?.eosToken });
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A `.json` name, or content whose first non-blank byte is '{' (a ModelProto starts with a field tag). */
function looksLikeJson(file: string): boolean {
  if (file.endsWith(".json")) return true;
  if (file.endsWith(".model")) return false;
  const buf = Buffer.alloc(64);
  const fd = openSync(file, "r");
  try {
    const n = readSync(fd, buf, 0, buf.length, 0);
    const head = buf.subarray(0, n).toString("latin1").trimStart();
    return head.startsWith("{");
  } finally {
    closeSync(fd);
  }
}
