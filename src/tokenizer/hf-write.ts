/**
 * A SentencePiece BPE model (ModelProto) written as the Hugging Face files a model folder
 * carries beside tokenizer.model: `tokenizer.json` (Llama 2 style: Prepend/Replace '▁'
 * normalizer, BPE with byte fallback, Replace/ByteFallback/Fuse/Strip decoder,
 * TemplateProcessing `<s> $A`), `tokenizer_config.json` and `special_tokens_map.json`.
 *
 * Merges follow transformers' SentencePieceExtractor: every split of a piece into two pieces
 * is a merge; merges are ranked by the merged piece's score (highest first, ties by id), and
 * the splits of one piece by the ids of their parts. Only pieces SentencePiece's BPE can
 * produce (NORMAL, USER_DEFINED) take part, so control and byte pieces never come out of a
 * merge. HF's tokenizers then give the same ids as SentencePiece for the LLaMA tokenizer.
 *
 * Models this layout cannot express exactly are refused with a UserError: non-identity
 * normalisation, remove_extra_whitespaces, unescaped whitespace, UNUSED or USER_DEFINED
 * pieces, non-BPE models.
 *
 * tokenizerJsonToModelProto goes the other way for Llama 2-style files.
 */
import { UserError } from "../util/errors.js";
import { HfTokenizer } from "./hf-json.js";
import { ModelProto, ModelType, NORMALIZER_DEFAULTS, PieceType, TRAINER_DEFAULTS } from "./model-proto.js";

const SPACE = "\u2581";

/** The tokenizer.json object (serialise with JSON.stringify). */
export function modelProtoToTokenizerJson(proto: ModelProto): Record<string, unknown> {
  checkExpressible(proto);
  const pieces = proto.pieces;
  const ns = proto.normalizerSpec;
  const addDummyPrefix = ns.addDummyPrefix ?? NORMALIZER_DEFAULTS.addDummyPrefix;
  const byteFallback = proto.trainerSpec.byteFallback ?? TRAINER_DEFAULTS.byteFallback;
  const vocab: Record<string, number> = {};
  pieces.forEach((p, id) => {
    if (!Object.hasOwn(vocab, p.piece)) vocab[p.piece] = id;
  });
  const unk = pieces.find((p) => p.type === PieceType.UNKNOWN);
  const specials = pieces.map((p, id) => ({ p, id })).filter(({ p }) => p.type === PieceType.CONTROL || p.type === PieceType.UNKNOWN);
  const bosPiece = proto.trainerSpec.bosPiece ?? TRAINER_DEFAULTS.bosPiece;
  const bos = specials.find(({ p }) => p.piece === bosPiece && p.type === PieceType.CONTROL);
  const normalizers: Record<string, unknown>[] = [];
  if (addDummyPrefix) normalizers.push({ type: "Prepend", prepend: SPACE });
  normalizers.push({ type: "Replace", pattern: { String: " " }, content: SPACE });
  const decoders: Record<string, unknown>[] = [{ type: "Replace", pattern: { String: SPACE }, content: " " }];
  if (byteFallback) decoders.push({ type: "ByteFallback" });
  decoders.push({ type: "Fuse" });
  if (addDummyPrefix) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map(({ p, id }) => ({ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: null,
    post_processor: bos
      ? {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: bos.p.piece, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [
            { SpecialToken: { id: bos.p.piece, type_id: 0 } },
            { Sequence: { id: "A", type_id: 0 } },
            { SpecialToken: { id: bos.p.piece, type_id: 1 } },
            { Sequence: { id: "B", type_id: 1 } },
          ],
          special_tokens: { [bos.p.piece]: { id: bos.p.piece, ids: [bos.id], tokens: [bos.p.piece] } },
        }
      : null,
    decoder: { type: "Sequence", decoders },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk ? unk.piece : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: byteFallback,
      vocab,
      merges: extractMerges(proto),
    },
  };
}

/** transformers' SentencePieceExtractor over the pieces BPE can produce, as "a b" strings. */
export function extractMerges(proto: ModelProto): string[] {
  const ids = new Map<string, number>();
  proto.pieces.forEach((p, id) => {
    if ((p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED) && !ids.has(p.piece)) ids.set(p.piece, id);
  });
  const found: { left: number; right: number; id: number; text: string }[] = [];
  for (const [piece, id] of ids) {
    const cps = [...piece];
    let prefix = "";
    for (let k = 1; k < cps.length; k++) {
      prefix += cps[k - 1]!;
      const suffix = piece.slice(prefix.length);
      const l = ids.get(prefix);
      const r = ids.get(suffix);
      if (l !== undefined && r !== undefined) found.push({ left: l, right: r, id, text: `${prefix} ${suffix}` });
    }
  }
  const score = (id: number): number => proto.pieces[id]!.score;
  found.sort((a, b) => score(b.id) - score(a.id) || a.id - b.id || a.left - b.left || a.right - b.right);
  return found.map((m) => m.text);
}

function checkExpressible(proto: ModelProto): void {
  const why = unsupportedReason(proto);
  if (why) throw new UserError(`cannot write this SentencePiece model as a tokenizer.json: ${why}`);
}

function unsupportedReason(proto: ModelProto): string | undefined {
  const ts = proto.trainerSpec;
  const ns = proto.normalizerSpec;
  if ((ts.modelType ?? TRAINER_DEFAULTS.modelType) !== ModelType.BPE) return "it is not a BPE model";
  if (ns.precompiledCharsmap && ns.precompiledCharsmap.length > 0) return `its normaliser ${JSON.stringify(ns.name ?? "")} is not the identity`;
  if (ns.removeExtraWhitespaces ?? NORMALIZER_DEFAULTS.removeExtraWhitespaces) return "it removes extra whitespace (remove_extra_whitespaces)";
  if (ns.escapeWhitespaces === false) return "it does not escape whitespace as '▁'";
  if (ts.treatWhitespaceAsSuffix) return "it treats whitespace as a suffix";
  const odd = proto.pieces.find((p) => p.type === PieceType.UNUSED || p.type === PieceType.USER_DEFINED);
  if (odd) return `it has ${PieceType[odd.type]} pieces (e.g. ${JSON.stringify(odd.piece)})`;
  return undefined;
}

/** The names of the special pieces (bos/eos/unk/pad) the model has, from its trainer spec. */
function specialNames(proto: ModelProto): { bos?: string; eos?: string; unk?: string; pad?: string } {
  const ts = proto.trainerSpec;
  const has = (piece: string, type: PieceType): string | undefined => (proto.pieces.some((p) => p.piece === piece && p.type === type) ? piece : undefined);
  return {
    bos: has(ts.bosPiece ?? TRAINER_DEFAULTS.bosPiece, PieceType.CONTROL),
    eos: has(ts.eosPiece ?? TRAINER_DEFAULTS.eosPiece, PieceType.CONTROL),
    unk: has(ts.unkPiece ?? TRAINER_DEFAULTS.unkPiece, PieceType.UNKNOWN),
    pad: has(ts.padPiece ?? TRAINER_DEFAULTS.padPiece, PieceType.CONTROL),
  };
}

function addedToken(content: string): Record<string, unknown> {
  return { content, lstrip: false, normalized: false, rstrip: false, single_word: false };
}

/** special_tokens_map.json as transformers writes it for a Llama tokenizer. */
export function specialTokensMapFor(proto: ModelProto): Record<string, unknown> {
  const names = specialNames(proto);
  const out: Record<string, unknown> = {};
  for (const key of ["bos", "eos", "unk", "pad"] as const) {
    const n = names[key];
    if (n !== undefined) out[`${key}_token`] = addedToken(n);
  }
  return out;
}

export interface TokenizerConfigOptions {
  /** A Jinja chat template to store. */
  chatTemplate?: string;
  /** The model's context length (transformers' model_max_length). */
  modelMaxLength?: number;
}

/** tokenizer_config.json for LlamaTokenizer / LlamaTokenizerFast (adds BOS, not EOS). */
export function tokenizerConfigFor(proto: ModelProto, opts: TokenizerConfigOptions = {}): Record<string, unknown> {
  checkExpressible(proto);
  const names = specialNames(proto);
  const decoderMap: Record<string, unknown> = {};
  proto.pieces.forEach((p, id) => {
    if (p.type === PieceType.CONTROL || p.type === PieceType.UNKNOWN) decoderMap[String(id)] = { ...addedToken(p.piece), special: true };
  });
  const out: Record<string, unknown> = {
    add_bos_token: names.bos !== undefined,
    add_eos_token: false,
    added_tokens_decoder: decoderMap,
    bos_token: names.bos ?? null,
    clean_up_tokenization_spaces: false,
    eos_token: names.eos ?? null,
    legacy: true,
    pad_token: names.pad ?? null,
    sp_model_kwargs: {},
    tokenizer_class: "LlamaTokenizer",
    unk_token: names.unk ?? null,
  };
  if (opts.modelMaxLength !== undefined) out.model_max_length = opts.modelMaxLength;
  if (opts.chatTemplate !== undefined) out.chat_template = opts.chatTemplate;
  return out;
}

// ---- the other way: a SentencePiece-style tokenizer.json as a ModelProto ----

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/**
 * A SentencePiece BPE ModelProto equivalent to a Llama 2-style tokenizer.json (normalizer
 * Prepend('▁') + Replace(' ', '▁') or Replace alone, no pre-tokenizer, BPE with or without
 * byte fallback), e.g. to write a GGUF "llama" vocabulary or a tokenizer.model for a folder
 * that ships only tokenizer.json. SentencePiece merges the pair whose result has the highest
 * score; a piece's score is minus the rank of the first merge that makes it, so the merge
 * order is HF's. Byte pieces `<0xXX>` become BYTE, special added tokens CONTROL, the unknown
 * token UNKNOWN. Anything else (Metaspace, which does not prepend before a leading space as
 * SentencePiece does; byte-level files) is a UserError.
 */
export function tokenizerJsonToModelProto(json: Record<string, unknown>): ModelProto {
  const fail = (why: string): never => {
    throw new UserError(`cannot turn this tokenizer.json into a SentencePiece model: ${why}`);
  };
  const model = json.model as Record<string, unknown> | undefined;
  if (!model || model.type !== "BPE") fail("its model is not BPE");
  const m = model!;
  if (json.pre_tokenizer !== null && json.pre_tokenizer !== undefined) fail("it has a pre-tokenizer (only Llama 2's Prepend/Replace normalizer form is converted)");
  const norm = json.normalizer as { type?: string; normalizers?: Record<string, unknown>[] } | null;
  const steps = norm?.type === "Sequence" ? (norm.normalizers ?? []) : norm ? [norm as Record<string, unknown>] : [];
  const isPrepend = (s: Record<string, unknown>): boolean => s.type === "Prepend" && s.prepend === SPACE;
  const isReplace = (s: Record<string, unknown>): boolean =>
    s.type === "Replace" && (s.pattern as { String?: string } | undefined)?.String === " " && s.content === SPACE;
  let addDummyPrefix = false;
  if (steps.length === 2 && isPrepend(steps[0]!) && isReplace(steps[1]!)) addDummyPrefix = true;
  else if (!(steps.length === 1 && isReplace(steps[0]!))) fail("its normalizer is not Prepend('▁') + Replace(' ', '▁')");
  const tok = HfTokenizer.fromJson(json);
  if (tok.decoderKind !== "pieces") fail("it is a byte-level tokenizer");
  const byteFallback = m.byte_fallback === true;
  const unkToken = typeof m.unk_token === "string" ? m.unk_token : undefined;
  const firstRank = new Map<string, number>();
  tok.mergeStrings().forEach((s, rank) => {
    const merged = s.replace(" ", "");
    if (!firstRank.has(merged)) firstRank.set(merged, rank);
  });
  const added = new Map(tok.addedTokens.map((t) => [t.id, t]));
  const nMerges = firstRank.size;
  const pieces: ModelProto["pieces"] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    const piece = tok.idToPiece(id);
    if (piece === "") fail(`id ${id} has no token`);
    const a = added.get(id);
    let type = PieceType.NORMAL;
    if (piece === unkToken) type = PieceType.UNKNOWN;
    else if (a?.special) type = PieceType.CONTROL;
    else if (a) type = PieceType.USER_DEFINED;
    else if (byteFallback && BYTE_PIECE.test(piece)) type = PieceType.BYTE;
    const rank = firstRank.get(piece);
    const score = type !== PieceType.NORMAL ? 0 : rank !== undefined ? -rank : -(nMerges + id);
    pieces.push({ piece, score, type });
  }
  if (!pieces.some((p) => p.type === PieceType.UNKNOWN)) fail("it has no unknown token, which SentencePiece requires");
  const idOf = (id: number): string | undefined => (id >= 0 ? pieces[id]!.piece : undefined);
  const proto: ModelProto = {
    pieces,
    trainerSpec: {
      modelType: ModelType.BPE,
      vocabSize: pieces.length,
      byteFallback,
      unkId: pieces.findIndex((p) => p.type === PieceType.UNKNOWN),
      bosId: tok.bosId,
      eosId: tok.eosId,
      padId: -1,
    },
    normalizerSpec: { name: "identity", addDummyPrefix, removeExtraWhitespaces: false, escapeWhitespaces: true },
  };
  const bos = idOf(tok.bosId);
  const eos = idOf(tok.eosId);
  if (bos !== undefined) proto.trainerSpec.bosPiece = bos;
  if (eos !== undefined) proto.trainerSpec.eosPiece = eos;
  if (unkToken !== undefined) proto.trainerSpec.unkPiece = unkToken;
  return proto;
}
