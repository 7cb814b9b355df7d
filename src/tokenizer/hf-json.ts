/**
 * HfTokenizer: a Hugging Face `tokenizer.json` (the `tokenizers` library's format) for the
 * LLaMA family, giving the same ids as the Rust library:
 *
 *   Llama 2 / TinyLlama / Mistral: normalizer Prepend('▁') + Replace(' ', '▁') or a Metaspace
 *     pre-tokenizer, BPE with byte fallback, decoder Replace/ByteFallback/Fuse/Strip.
 *   Llama 3: Split(regex with \p{L}/\p{N}) + ByteLevel pre-tokenizer, BPE with ignore_merges,
 *     ByteLevel decoder, added special tokens such as <|begin_of_text|> and <|eot_id|>.
 *
 * encode(text) runs HF's pipeline: added tokens are cut out of the raw text first
 * (leftmost-longest; `lstrip`/`rstrip` absorb neighbouring whitespace), each remaining run is
 * normalised, tokens with `normalized: true` are cut out of the normalised run (matching their
 * own normalised form), the rest is
 * pre-tokenized into words and each word goes through the BPE model (hf-bpe.ts).
 *
 * Options map to HF as follows. `parseSpecial: true` is HF's `encode(text, add_special_tokens=
 * False)`: every added token is recognised. `parseSpecial: false` (the default, as for
 * SentencePiece) is transformers' `split_special_tokens=True`: special added tokens are encoded
 * as plain text, non-special added tokens are still recognised. `bos`/`eos` add one id each
 * (BOS is what the TemplateProcessing post-processor puts before the text, or the config's
 * bos_token), so `encode(text, {bos: true, parseSpecial: true})` is HF's default
 * `encode(text)` for Llama 2's template `<s> $A`.
 *
 * Anything outside this family (WordPiece, Unigram, other normalizers or pre-tokenizers) is a
 * UserError naming what is not supported.
 */
import { UserError } from "../util/errors.js";
import { MAX_TOKENIZER_BYTES, readRegularText } from "../util/files.js";
import { HfBpe } from "./hf-bpe.js";
import { DecoderSpec, HfDecodeStream, parseDecoder } from "./hf-decode.js";
import { IS_WHITESPACE, Json, JsonObject, Normalize, PreTokenize, isObject, parseNormalizer, parsePreTokenizer } from "./hf-pretokenize.js";
import type { EncodeOptions, Tokenizer } from "./types.js";
import { toWellFormed } from "./utf8.js";

/** One entry of `added_tokens`. */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

export interface HfTokenizerOptions {
  /** The BOS token's text (tokenizer_config.json's bos_token); overrides the post-processor's. */
  bosToken?: string;
  /** The EOS token's text (tokenizer_config.json's eos_token). */
  eosToken?: string;
  /** Names the source in error messages. */
  name?: string;
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  /** The post-processor (TemplateProcessing) puts BOS / EOS around a single text. */
  readonly templateAddsBos: boolean;
  readonly templateAddsEos: boolean;
  readonly addedTokens: readonly AddedToken[];
  /** The file's `pre_tokenizer` field as written (GGUF export names it, e.g. llama-bpe). */
  readonly preTokenizerSpec: Json;
  /** "bytelevel" for Llama 3-style files, "pieces" for SentencePiece-style ones. */
  readonly decoderKind: DecoderSpec["kind"];
  private readonly model: HfBpe;
  private readonly tokens: string[];
  private readonly isSpecial: Uint8Array;
  private readonly normalize: Normalize | undefined;
  private readonly preTokenize: PreTokenize | undefined;
  private readonly decoder: DecoderSpec;
  private readonly rawAll: AddedTokenMatcher;
  private readonly rawPlain: AddedTokenMatcher;
  private readonly normAll: AddedTokenMatcher;
  private readonly normPlain: AddedTokenMatcher;
  private readonly specials: ReadonlyMap<string, number>;

  private constructor(root: JsonObject, opts: HfTokenizerOptions) {
    const model = root.model;
    if (!isObject(model)) throw new UserError(`tokenizer.json has no "model"`);
    if (model.type !== "BPE") throw new UserError(`tokenizer.json: model type ${JSON.stringify(model.type ?? null)} is not supported (only BPE, as in the LLaMA family)`);
    for (const key of ["continuing_subword_prefix", "end_of_word_suffix"] as const) {
      const v = model[key];
      if (v !== undefined && v !== null && v !== "") throw new UserError(`tokenizer.json: BPE with ${key} is not supported`);
    }
    if (typeof model.dropout === "number" && model.dropout > 0) throw new UserError(`tokenizer.json: BPE dropout is not supported`);
    const { vocab, tokens } = readVocab(model.vocab);
    if (model.merges !== undefined && model.merges !== null && !Array.isArray(model.merges)) throw new UserError(`tokenizer.json: model.merges must be a list`);
    const unk = model.unk_token;
    this.model = new HfBpe({
      vocab,
      merges: Array.isArray(model.merges) ? model.merges : [],
      unkToken: typeof unk === "string" ? unk : null,
      fuseUnk: model.fuse_unk === true,
      byteFallback: model.byte_fallback === true,
      ignoreMerges: model.ignore_merges === true,
    });
    this.addedTokens = readAddedTokens(root.added_tokens);
    let size = tokens.length;
    for (const t of this.addedTokens) size = Math.max(size, t.id + 1);
    this.vocabSize = size;
    this.tokens = tokens;
    for (let id = 0; id < size; id++) this.tokens[id] ??= "";
    this.isSpecial = new Uint8Array(size);
    const specials = new Map<string, number>();
    for (const t of this.addedTokens) {
      this.tokens[t.id] = t.content;
      if (t.special) {
        this.isSpecial[t.id] = 1;
        specials.set(t.content, t.id);
      }
    }
    this.specials = specials;
    this.normalize = parseNormalizer(root.normalizer);
    const raw = this.addedTokens.filter((t) => !t.normalized);
    // HF matches a `normalized` token by its normalised form (e.g. "▁word" under Prepend).
    const normalize = this.normalize;
    const norm = this.addedTokens.filter((t) => t.normalized).map((t) => (normalize ? { ...t, content: normalize(t.content) } : t));
    this.rawAll = new AddedTokenMatcher(raw);
    this.rawPlain = new AddedTokenMatcher(raw.filter((t) => !t.special));
    this.normAll = new AddedTokenMatcher(norm);
    this.normPlain = new AddedTokenMatcher(norm.filter((t) => !t.special));
    this.preTokenize = parsePreTokenizer(root.pre_tokenizer);
    this.preTokenizerSpec = root.pre_tokenizer ?? null;
    this.decoder = parseDecoder(root.decoder);
    this.decoderKind = this.decoder.kind;
    const template = readTemplate(root.post_processor);
    this.templateAddsBos = template.prefix.length > 0;
    this.templateAddsEos = template.suffix.length > 0;
    const byName = (names: string[]): number => {
      for (const n of names) {
        const id = specials.get(n);
        if (id !== undefined) return id;
      }
      return -1;
    };
    this.bosId =
      opts.bosToken !== undefined
        ? this.requireToken(opts.bosToken, "bos_token")
        : template.prefix.length === 1
          ? template.prefix[0]!
          : byName(["<s>", "<|begin_of_text|>"]);
    this.eosId =
      opts.eosToken !== undefined
        ? this.requireToken(opts.eosToken, "eos_token")
        : template.suffix.length === 1
          ? template.suffix[0]!
          : byName(["</s>", "<|end_of_text|>"]);
    for (const id of [...template.prefix, ...template.suffix]) {
      if (id >= size) throw new UserError(`tokenizer.json: the post-processor's special token id ${id} is outside the vocabulary`);
    }
  }

  /** Loads a tokenizer.json file; a missing, malformed or unsupported file is a UserError naming it. */
  static fromFile(path: string, opts: HfTokenizerOptions = {}): HfTokenizer {
    const text = readRegularText(path, { maxBytes: MAX_TOKENIZER_BYTES, what: "tokenizer" });
    return HfTokenizer.fromJson(text, { name: path, ...opts });
  }

  /** Parses tokenizer.json text (or an already parsed object). */
  static fromJson(json: string | object, opts: HfTokenizerOptions = {}): HfTokenizer {
    const name = opts.name ?? "tokenizer.json";
    let root: Json;
    try {
      root = typeof json === "string" ? (JSON.parse(json) as Json) : (json as Json);
    } catch (err) {
      throw new UserError(`${name} is not valid JSON (${(err as Error).message})`);
    }
    if (!isObject(root)) throw new UserError(`${name} is not a tokenizer.json (expected a JSON object)`);
    try {
      return new HfTokenizer(root, opts);
    } catch (err) {
      if (err instanceof UserError && name !== "tokenizer.json") throw new UserError(err.message.replace(/^tokenizer\.json/, name));
      throw err;
    }
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    // Lone surrogates reach HF's Rust side as U+FFFD; do the same before matching anything.
    text = toWellFormed(text);
    const out: number[] = [];
    if (opts.bos) out.push(this.requireSpecial(this.bosId, "BOS"));
    const raw = opts.parseSpecial ? this.rawAll : this.rawPlain;
    const norm = opts.parseSpecial ? this.normAll : this.normPlain;
    for (const part of raw.split(text)) {
      if (typeof part === "number") {
        out.push(part);
        continue;
      }
      const normalized = this.normalize ? this.normalize(part.text) : part.text;
      for (const piece of norm.split(normalized)) {
        if (typeof piece === "number") out.push(piece);
        else this.encodeWords(piece.text, part.start === 0 && piece.start === 0, out);
      }
    }
    if (opts.eos) out.push(this.requireSpecial(this.eosId, "EOS"));
    return out;
  }

  private encodeWords(text: string, atStart: boolean, out: number[]): void {
    if (!this.preTokenize) {
      this.model.encodeWord(text, out);
      return;
    }
    for (const w of this.preTokenize([text], atStart)) this.model.encodeWord(w, out);
  }

  /** Ids -> text as HF's decode(ids, skip_special_tokens=True). Throws RangeError for a bad id. */
  decode(ids: readonly number[]): string {
    const s = this.decodeStream();
    let text = "";
    for (const id of ids) text += s.push(id);
    return text + s.flush();
  }

  decodeStream(): HfDecodeStream {
    return new HfDecodeStream(this.decoder, this.tokens, this.isSpecial);
  }

  idToPiece(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} is out of range (the vocabulary has ids 0..${this.vocabSize - 1})`);
    }
    return this.tokens[id]!;
  }

  /** The model's merges as "a b" strings, in rank order (for GGUF's tokenizer.ggml.merges). */
  mergeStrings(): string[] {
    return this.model.mergeStrings();
  }

  /** The id of a token string (added tokens first, as HF's token_to_id), or undefined. */
  tokenToId(token: string): number | undefined {
    for (const t of this.addedTokens) if (t.content === token) return t.id;
    return this.model.vocab.get(token);
  }

  /** Whether an id is a special added token (skipped by decode). */
  isSpecialId(id: number): boolean {
    return this.isSpecial[id] === 1;
  }

  specialTokens(): ReadonlyMap<string, number> {
    return this.specials;
  }

  private requireToken(token: string, what: string): number {
    const id = this.tokenToId(token);
    if (id === undefined) throw new UserError(`tokenizer.json: the ${what} ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  private requireSpecial(id: number, what: string): number {
    if (id < 0) throw new UserError(`this tokenizer has no ${what} token (give bos_token/eos_token in tokenizer_config.json)`);
    return id;
  }
}

/** token -> id, and id -> token (holes stay undefined). */
function readVocab(v: Json | undefined): { vocab: Map<string, number>; tokens: string[] } {
  if (!isObject(v)) throw new UserError(`tokenizer.json: model.vocab must be an object of token -> id`);
  const out = new Map<string, number>();
  const tokens: string[] = [];
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) {
    const tok = keys[i]!;
    const id = v[tok];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
      throw new UserError(`tokenizer.json: model.vocab[${JSON.stringify(tok)}] is not a valid id`);
    }
    out.set(tok, id);
    tokens[id] = tok;
  }
  return { vocab: out, tokens };
}

function readAddedTokens(v: Json | undefined): AddedToken[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UserError(`tokenizer.json: added_tokens must be a list`);
  return v.map((t, i) => {
    if (!isObject(t) || typeof t.id !== "number" || !Number.isInteger(t.id) || t.id < 0 || typeof t.content !== "string" || t.content.length === 0) {
      throw new UserError(`tokenizer.json: added_tokens[${i}] needs an integer "id" and a non-empty "content"`);
    }
    if (t.single_word === true) throw new UserError(`tokenizer.json: added token ${JSON.stringify(t.content)} with single_word is not supported`);
    const special = t.special === true;
    return {
      id: t.id,
      content: t.content,
      special,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      // HF's default for a missing "normalized" is !special.
      normalized: typeof t.normalized === "boolean" ? t.normalized : !special,
    };
  });
}

/** The special ids TemplateProcessing puts before and after a single sequence. */
function readTemplate(pp: Json | undefined): { prefix: number[]; suffix: number[] } {
  const none = { prefix: [], suffix: [] };
  if (pp === undefined || pp === null) return none;
  if (!isObject(pp)) throw new UserError(`tokenizer.json: post_processor must be an object`);
  if (pp.type === "ByteLevel") return none;
  if (pp.type === "Sequence" && Array.isArray(pp.processors)) {
    const parts = pp.processors.map(readTemplate);
    return { prefix: parts.flatMap((p) => p.prefix), suffix: parts.flatMap((p) => p.suffix) };
  }
  if (pp.type !== "TemplateProcessing") throw new UserError(`tokenizer.json: post_processor type ${JSON.stringify(pp.type)} is not supported`);
  const single = pp.single;
  const specials = pp.special_tokens;
  if (!Array.isArray(single) || !isObject(specials)) throw new UserError(`tokenizer.json: TemplateProcessing needs "single" and "special_tokens"`);
  const out: { prefix: number[]; suffix: number[] } = { prefix: [], suffix: [] };
  let seen = false;
  for (const item of single) {
    if (isObject(item) && isObject(item.Sequence)) {
      seen = true;
      continue;
    }
    const st = isObject(item) && isObject(item.SpecialToken) ? item.SpecialToken : undefined;
    const entry = st && typeof st.id === "string" ? specials[st.id] : undefined;
    if (!isObject(entry) || !Array.isArray(entry.ids) || !entry.ids.every((x) => typeof x === "number")) {
      throw new UserError(`tokenizer.json: TemplateProcessing item ${JSON.stringify(item)} is not understood`);
    }
    (seen ? out.suffix : out.prefix).push(...(entry.ids as number[]));
  }
  return out;
}

/** A run of text (with its start offset in the string that was split) or an added token's id. */
type Part = { text: string; start: number } | number;

/**
 * Finds added tokens in a string, leftmost-longest (as HF's Aho-Corasick), with lstrip/rstrip
 * taking the whitespace beside a match into the match.
 */
class AddedTokenMatcher {
  private readonly byFirst = new Map<number, AddedToken[]>();

  constructor(tokens: readonly AddedToken[]) {
    for (const t of tokens) {
      const c = t.content.charCodeAt(0);
      const list = this.byFirst.get(c) ?? [];
      list.push(t);
      this.byFirst.set(c, list);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.content.length - a.content.length);
  }

  split(text: string): Part[] {
    if (this.byFirst.size === 0) return text.length > 0 ? [{ text, start: 0 }] : [];
    const out: Part[] = [];
    let done = 0;
    for (let i = 0; i < text.length; ) {
      const list = this.byFirst.get(text.charCodeAt(i));
      const hit = list?.find((t) => text.startsWith(t.content, i));
      if (!hit) {
        i++;
        continue;
      }
      let start = i;
      let end = i + hit.content.length;
      if (hit.lstrip) while (start > done && IS_WHITESPACE.test(text[start - 1]!)) start--;
      if (hit.rstrip) while (end < text.length && IS_WHITESPACE.test(text[end]!)) end++;
      if (start > done) out.push({ text: text.slice(done, start), start: done });
      out.push(hit.id);
      done = end;
      i = end;
    }
    if (done < text.length) out.push({ text: text.slice(done), start: done });
    return out;
  }
}
