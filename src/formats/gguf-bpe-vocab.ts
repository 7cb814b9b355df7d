/**
 * GGUF `tokenizer.ggml.model = "gpt2"` vocabularies (byte-level BPE, as llama.cpp stores
 * Llama 3's tokenizer) <-> a Hugging Face tokenizer.json (HfTokenizer).
 *
 *   tokenizer.ggml.tokens       every id's token, in byte-level spelling ("Ġworld")
 *   tokenizer.ggml.token_type   1 normal, 3 control (special added token), 4 user-defined
 *                               (non-special added token), 5 unused (padding to vocab_size)
 *   tokenizer.ggml.merges       "a b" in rank order
 *   tokenizer.ggml.pre          the pre-tokenizer by name: "llama-bpe" for Llama 3's regex
 *                               Split + ByteLevel, "gpt-2" for ByteLevel with GPT-2's regex
 *   bos/eos ids, add_bos_token / add_eos_token
 *
 * Reading rebuilds the tokenizer.json of that shape (added tokens from the control and
 * user-defined types, `ignore_merges` for llama-bpe as in Llama 3's own file).
 */
import { UserError } from "../util/errors.js";
import type { HfTokenizer } from "../tokenizer/hf-json.js";
import { GgufFile, type GgufValue, gguf } from "./gguf.js";

/** Llama 3's pre-tokenizer regex, as its tokenizer.json holds it. */
export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const TYPE_NORMAL = 1;
const TYPE_CONTROL = 3;
const TYPE_USER_DEFINED = 4;
const TYPE_UNUSED = 5;

/** llama.cpp's name for a tokenizer.json pre-tokenizer, or undefined when it has none for it. */
export function llamaCppPreName(spec: unknown): string | undefined {
  const o = spec as { type?: string; pretokenizers?: { type?: string; pattern?: { Regex?: string }; use_regex?: boolean }[]; use_regex?: boolean };
  if (o?.type === "ByteLevel" && o.use_regex !== false) return "gpt-2";
  const steps = o?.type === "Sequence" ? (o.pretokenizers ?? []) : [];
  if (steps.length === 2 && steps[0]!.type === "Split" && steps[0]!.pattern?.Regex === LLAMA3_PATTERN && steps[1]!.type === "ByteLevel" && steps[1]!.use_regex === false) {
    return "llama-bpe";
  }
  return undefined;
}

export interface BpeVocabOptions {
  /** tokenizer.ggml.add_bos_token (default: the tokenizer's post-processor adds BOS). */
  addBos?: boolean;
}

/** `tokenizer.ggml.*` keys for a byte-level BPE tokenizer.json, padded to the model's vocab size. */
export function bpeTokenizerMetadata(tok: HfTokenizer, vocabSize: number, opts: BpeVocabOptions = {}): Map<string, GgufValue> {
  if (tok.decoderKind !== "bytelevel") {
    throw new UserError("this tokenizer.json is SentencePiece-style: it is written as a llama vocabulary (tokenizerJsonToModelProto), not as gpt2");
  }
  const pre = llamaCppPreName(tok.preTokenizerSpec);
  if (pre === undefined) throw new UserError("this tokenizer.json's pre-tokenizer has no llama.cpp name (only Llama 3's \"llama-bpe\" and \"gpt-2\" are written)");
  if (tok.vocabSize > vocabSize) throw new UserError(`the tokenizer has ${tok.vocabSize} tokens but the model's vocab_size is ${vocabSize}`);
  const added = new Map(tok.addedTokens.map((t) => [t.id, t]));
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const text = id < tok.vocabSize ? tok.idToPiece(id) : "";
    const a = added.get(id);
    if (text === "") {
      tokens.push(`[PAD${id}]`);
      types.push(TYPE_UNUSED);
    } else {
      tokens.push(text);
      types.push(a ? (a.special ? TYPE_CONTROL : TYPE_USER_DEFINED) : TYPE_NORMAL);
    }
  }
  const m = new Map<string, GgufValue>();
  m.set("tokenizer.ggml.model", gguf.str("gpt2"));
  m.set("tokenizer.ggml.pre", gguf.str(pre));
  m.set("tokenizer.ggml.tokens", gguf.strings(tokens));
  m.set("tokenizer.ggml.token_type", gguf.i32s(types));
  m.set("tokenizer.ggml.merges", gguf.strings(tok.mergeStrings()));
  if (tok.bosId >= 0) m.set("tokenizer.ggml.bos_token_id", gguf.u32(tok.bosId));
  if (tok.eosId >= 0) m.set("tokenizer.ggml.eos_token_id", gguf.u32(tok.eosId));
  m.set("tokenizer.ggml.add_bos_token", gguf.bool(opts.addBos ?? tok.templateAddsBos));
  m.set("tokenizer.ggml.add_eos_token", gguf.bool(tok.templateAddsEos));
  return m;
}

/** The tokenizer.json (as an object) of a GGUF file with a gpt2 vocabulary; undefined for other vocabularies. */
export function tokenizerJsonFromGguf(f: GgufFile): Record<string, unknown> | undefined {
  if (f.getString("tokenizer.ggml.model") !== "gpt2") return undefined;
  const pre = f.getString("tokenizer.ggml.pre") ?? "(none)";
  let preTokenizer: Record<string, unknown>;
  if (pre === "llama-bpe") {
    preTokenizer = {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
  } else if (pre === "gpt-2") {
    preTokenizer = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  } else throw new UserError(`${f.path}: tokenizer.ggml.pre "${pre}" is not supported (only llama-bpe and gpt-2)`);
  const tokens = f.get("tokenizer.ggml.tokens");
  const merges = f.get("tokenizer.ggml.merges");
  const types = f.get("tokenizer.ggml.token_type");
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) throw new UserError(`${f.path}: tokenizer.ggml.tokens must be an array of strings`);
  if (!Array.isArray(merges) || merges.some((t) => typeof t !== "string")) throw new UserError(`${f.path}: a gpt2 vocabulary needs tokenizer.ggml.merges (strings)`);
  const typeOf = (i: number): number => (Array.isArray(types) && types.length === tokens.length ? Number(types[i]) : TYPE_NORMAL);
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  (tokens as string[]).forEach((t, id) => {
    const type = typeOf(id);
    if (type === TYPE_UNUSED) return;
    if (type === TYPE_CONTROL || type === TYPE_USER_DEFINED) {
      added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TYPE_CONTROL });
    } else if (!Object.hasOwn(vocab, t)) vocab[t] = id;
  });
  const bos = f.getNumber("tokenizer.ggml.bos_token_id");
  const addBos = f.metadata.get("tokenizer.ggml.add_bos_token")?.value === true;
  const bosText = bos !== undefined && bos >= 0 && bos < tokens.length ? (tokens[bos] as string) : undefined;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor:
      addBos && bosText !== undefined
        ? {
            type: "TemplateProcessing",
            single: [{ SpecialToken: { id: bosText, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
            pair: [
              { SpecialToken: { id: bosText, type_id: 0 } },
              { Sequence: { id: "A", type_id: 0 } },
              { SpecialToken: { id: bosText, type_id: 1 } },
              { Sequence: { id: "B", type_id: 1 } },
            ],
            special_tokens: { [bosText]: { id: bosText, ids: [bos], tokens: [bosText] } },
          }
        : null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre === "llama-bpe",
      vocab,
      merges,
    },
  };
}
