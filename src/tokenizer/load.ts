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
import { parseTokenizerConfig, type TokenizerConfig } from "./tokenizer-config.js";

export { parseTokenizerConfig, type TokenizerConfig };
import { SentencePieceTokenizer } from "./tokenizer.js";
import type { Tokenizer } from "./types.js";

/** Reads DIR/tokenizer_config.json; undefined when there is none. Malformed files are a UserError. */
export function readTokenizerConfig(dir: string): TokenizerConfig | undefined {
  const file = path.join(dir, "tokenizer_config.json");
  if (!isFile(file)) return undefined;
  return parseTokenizerConfig(readFileSync(file, "utf8"), file);
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
