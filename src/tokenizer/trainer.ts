/**
 * BPE training with SentencePiece's rules (bpe_model_trainer.cc / trainer_interface.cc), so
 * the result is a `tokenizer.model` SentencePiece loads and segments like its own:
 *
 *  1. Each input line is a sentence; lines longer than max_sentence_length bytes are skipped.
 *     Sentences are normalised (identity, '▁' for spaces, dummy prefix) and cut into words
 *     before each '▁' (a run of '▁' stays together when whitespace-only pieces are allowed);
 *     identical words are counted once with their frequency.
 *  2. Characters are kept by frequency until character_coverage of all characters is
 *     covered; the rest are unknown (byte fallback covers them at encoding time).
 *  3. Repeatedly merge the most frequent adjacent pair (ties: shorter piece, then smaller
 *     string) whose concatenation is a valid piece: at most max_sentencepiece_length
 *     characters, no digits in multi-character pieces (split_digits), one Unicode script
 *     (Hiragana/Katakana count as Han), '▁' only at the start unless the piece is all '▁'.
 *     Merged pieces get scores 0, -1, -2, ...; the kept characters follow.
 *
 * Unlike spm_train, which re-scores only a sample of "active" candidates between updates, the
 * best pair is exact at every step: pair counts are updated incrementally (only the words
 * that hold the merged pair are touched) and a lazy max-heap keeps the order.
 */
import type { Progress } from "../util/progress.js";
import { ModelPiece, ModelProto, ModelType, PieceType, TRAINER_DEFAULTS } from "./model-proto.js";
import { byteToPiece } from "./model.js";
import { Normalizer, SPACE_SYMBOL } from "./normalizer.js";
import { PairTable } from "./pair-table.js";
import { SCRIPT_HAN, SCRIPT_HIRAGANA, SCRIPT_INHERITED, SCRIPT_KATAKANA, scriptOf } from "./unicode-script.js";
import { compareCodepoints, utf8ByteLength } from "./utf8.js";

const WS = 0x2581;
const ANY_SCRIPT = -1;

export interface BpeTrainerOptions {
  /** Total pieces, including <unk>/<s>/</s> and the 256 byte pieces. */
  vocabSize: number;
  /** Fraction of characters (by count) that get their own piece; default 0.99995 (LLaMA). */
  characterCoverage?: number;
  /** Longer lines (in UTF-8 bytes) are skipped, as spm_train does; default 4192. */
  maxSentenceLength?: number;
  /** Longest piece in characters; default 16. */
  maxSentencepieceLength?: number;
  /** Digits are always single-character pieces; default true (LLaMA). */
  splitDigits?: boolean;
  /** Pieces never mix digits with other characters' scripts; default true. */
  splitByNumber?: boolean;
  /** Pieces never mix Unicode scripts; default true. */
  splitByUnicodeScript?: boolean;
  /** '▁' only starts a piece; default true. */
  splitByWhitespace?: boolean;
  /** Allow pieces made only of '▁' (runs of spaces); default true (LLaMA). */
  allowWhitespaceOnlyPieces?: boolean;
  /** Add <0x00>..<0xFF> pieces so no character is unknown; default true (LLaMA). */
  byteFallback?: boolean;
  /** Default true. */
  addDummyPrefix?: boolean;
  /** Default false (LLaMA keeps all whitespace). */
  removeExtraWhitespaces?: boolean;
  /** Use a random sample of this many sentences (0 = all, the default). */
  inputSentenceSize?: number;
  /** Seed for sentence sampling; default 0. */
  seed?: number;
  /** Fail when the corpus cannot fill the vocabulary (default true, as spm_train). */
  hardVocabLimit?: boolean;
  /** Pieces that are always kept whole and never merged (e.g. "<tool>"). */
  userDefinedSymbols?: string[];
  /** Extra control pieces (invisible when decoding), e.g. "<pad>". */
  controlSymbols?: string[];
  /** Characters that always get a piece, whatever their frequency. */
  requiredChars?: string;
  unkId?: number;
  bosId?: number;
  eosId?: number;
  /** -1 (the default) for none. */
  padId?: number;
  unkPiece?: string;
  bosPiece?: string;
  eosPiece?: string;
  padPiece?: string;
  /** Recorded in the trainer spec. */
  input?: string[];
  modelPrefix?: string;
  /** Show progress on stderr (default false for the library, the CLI turns it on). */
  progress?: boolean;
}

export interface TrainStats {
  sentences: number;
  skippedTooLong: number;
  words: number;
  distinctWords: number;
  characters: number;
  requiredChars: number;
  merges: number;
  seconds: number;
}

/** How a long phase reports progress (util/progress.ts createProgress has this shape). */
export type MakeProgress = (label: string, total: number, opts: { silent?: boolean; unit?: string }) => Progress;

const noProgress: MakeProgress = () => ({ update() {}, stop() {} });

export class TrainError extends Error {
  override readonly name = "TrainError";
}

type Resolved = Required<Omit<BpeTrainerOptions, "input" | "modelPrefix">> & Pick<BpeTrainerOptions, "input" | "modelPrefix">;

export function resolveTrainerOptions(o: BpeTrainerOptions): Resolved {
  const r: Resolved = {
    vocabSize: o.vocabSize,
    characterCoverage: o.characterCoverage ?? 0.99995,
    maxSentenceLength: o.maxSentenceLength ?? TRAINER_DEFAULTS.maxSentenceLength,
    maxSentencepieceLength: o.maxSentencepieceLength ?? TRAINER_DEFAULTS.maxSentencepieceLength,
    splitDigits: o.splitDigits ?? true,
    splitByNumber: o.splitByNumber ?? true,
    splitByUnicodeScript: o.splitByUnicodeScript ?? true,
    splitByWhitespace: o.splitByWhitespace ?? true,
    allowWhitespaceOnlyPieces: o.allowWhitespaceOnlyPieces ?? true,
    byteFallback: o.byteFallback ?? true,
    addDummyPrefix: o.addDummyPrefix ?? true,
    removeExtraWhitespaces: o.removeExtraWhitespaces ?? false,
    inputSentenceSize: o.inputSentenceSize ?? 0,
    seed: o.seed ?? 0,
    hardVocabLimit: o.hardVocabLimit ?? true,
    userDefinedSymbols: o.userDefinedSymbols ?? [],
    controlSymbols: o.controlSymbols ?? [],
    requiredChars: o.requiredChars ?? "",
    unkId: o.unkId ?? 0,
    bosId: o.bosId ?? 1,
    eosId: o.eosId ?? 2,
    padId: o.padId ?? -1,
    unkPiece: o.unkPiece ?? TRAINER_DEFAULTS.unkPiece,
    bosPiece: o.bosPiece ?? TRAINER_DEFAULTS.bosPiece,
    eosPiece: o.eosPiece ?? TRAINER_DEFAULTS.eosPiece,
    padPiece: o.padPiece ?? TRAINER_DEFAULTS.padPiece,
    input: o.input,
    modelPrefix: o.modelPrefix,
    progress: o.progress ?? false,
  };
  if (!Number.isInteger(r.vocabSize) || r.vocabSize <= 0) throw new TrainError(`vocab size must be a positive integer, got ${r.vocabSize}`);
  if (!(r.characterCoverage > 0 && r.characterCoverage <= 1)) throw new TrainError(`character coverage must be in (0, 1], got ${r.characterCoverage}`);
  if (!(r.maxSentencepieceLength >= 1)) throw new TrainError(`max sentencepiece length must be at least 1`);
  if (r.unkId < 0) throw new TrainError("unk id must be set (>= 0): every model needs an unknown piece");
  return r;
}

/** A small seeded RNG (mulberry32) for sentence sampling. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Collects sentences (addSentence / addFile), then train() builds the model.
 * Memory is proportional to the number of distinct words, not to the corpus size (unless
 * inputSentenceSize asks for a sample, which keeps the sampled sentences).
 */
export class BpeTrainer {
  readonly options: Resolved;
  private readonly normalizer: Normalizer;
  private readonly wordCounts = new Map<string, number>();
  private readonly userDefined: readonly string[];
  private sample: string[] | undefined;
  private seen = 0;
  private readonly random: () => number;
  private stats = { sentences: 0, skippedTooLong: 0, words: 0 };

  constructor(options: BpeTrainerOptions) {
    this.options = resolveTrainerOptions(options);
    const o = this.options;
    this.userDefined = o.userDefinedSymbols;
    this.normalizer = new Normalizer(
      { name: "identity", addDummyPrefix: o.addDummyPrefix, removeExtraWhitespaces: o.removeExtraWhitespaces, escapeWhitespaces: true },
      this.userDefined,
    );
    this.random = rng(o.seed);
    if (o.inputSentenceSize > 0) this.sample = [];
  }

  /** Adds one sentence (one line of a training file, without its newline). */
  addSentence(line: string): void {
    const o = this.options;
    if (line.length === 0) return;
    if (line.length * 3 > o.maxSentenceLength && utf8ByteLength(line) > o.maxSentenceLength) {
      this.stats.skippedTooLong++;
      return;
    }
    if (this.sample) {
      // Reservoir sampling keeps a uniform sample of inputSentenceSize sentences.
      this.seen++;
      if (this.sample.length < o.inputSentenceSize) this.sample.push(line);
      else {
        const k = Math.floor(this.random() * this.seen);
        if (k < o.inputSentenceSize) this.sample[k] = line;
      }
      return;
    }
    this.countSentence(line);
  }

  private countSentence(line: string): void {
    this.stats.sentences++;
    const norm = this.normalizer.normalize(line);
    if (norm.length === 0) return;
    const o = this.options;
    const counts = this.wordCounts;
    const add = (w: string): void => {
      if (w.length === 0) return;
      counts.set(w, (counts.get(w) ?? 0) + 1);
      this.stats.words++;
    };
    if (this.userDefined.length > 0) {
      // User-defined symbols are pieces of their own: cut them out of the text.
      let rest = norm;
      for (;;) {
        let best = -1;
        let bestLen = 0;
        for (const s of this.userDefined) {
          const i = rest.indexOf(s);
          if (i >= 0 && (best < 0 || i < best || (i === best && s.length > bestLen))) {
            best = i;
            bestLen = s.length;
          }
        }
        if (best < 0) break;
        this.splitWords(rest.slice(0, best), add);
        rest = rest.slice(best + bestLen);
      }
      this.splitWords(rest, add);
      return;
    }
    if (!o.splitByWhitespace) {
      add(norm);
      return;
    }
    this.splitWords(norm, add);
  }

  /** SentencePiece's SplitIntoWords: a word starts at each '▁' (runs of '▁' stay together when allowed). */
  private splitWords(text: string, add: (w: string) => void): void {
    if (!this.options.splitByWhitespace) {
      add(text);
      return;
    }
    const keepRuns = this.options.allowWhitespaceOnlyPieces;
    let start = 0;
    let i = text.indexOf(SPACE_SYMBOL, 1);
    while (i > 0) {
      if (!(keepRuns && text.charCodeAt(i - 1) === WS)) {
        add(text.slice(start, i));
        start = i;
      }
      i = text.indexOf(SPACE_SYMBOL, i + 1);
    }
    add(text.slice(start));
  }

  /**
   * Adds text of one or more lines (split at "\n", a trailing "\r" dropped): the sentences
   * of a text file. A file read in pieces is added as its complete lines, the rest kept for the
   * next piece (see trainer-files.ts).
   */
  addText(text: string): void {
    let start = 0;
    let nl = text.indexOf("\n");
    while (nl >= 0) {
      this.addLine(text, start, nl);
      start = nl + 1;
      nl = text.indexOf("\n", start);
    }
    if (start < text.length) this.addLine(text, start, text.length);
  }

  private addLine(text: string, start: number, end: number): void {
    if (end > start && text.charCodeAt(end - 1) === 13) end--; // CRLF files
    this.addSentence(text.slice(start, end));
  }

  /**
   * Trains and returns the model (pieces, trainer spec, normaliser spec). `makeProgress` shows
   * the merges when the `progress` option is on (the CLI passes util/progress.ts createProgress).
   */
  train(makeProgress: MakeProgress = noProgress): { model: ModelProto; stats: TrainStats } {
    const t0 = Date.now();
    const o = this.options;
    if (this.sample) {
      for (const s of this.sample) this.countSentence(s);
      this.sample = undefined;
    }
    const meta = this.metaPieces();
    const words = [...this.wordCounts];
    const distinctWords = words.length;
    this.wordCounts.clear();
    if (words.length === 0) throw new TrainError("the training input has no text");

    // Character frequencies and the kept ("required") characters.
    const charCount = new Map<number, number>();
    let allChars = 0;
    for (const [w, f] of words) {
      for (let k = 0; k < w.length; ) {
        const c = w.codePointAt(k)!;
        k += c > 0xffff ? 2 : 1;
        if (c === 0 || (c >= 0xd800 && c <= 0xdfff)) continue;
        charCount.set(c, (charCount.get(c) ?? 0) + f);
        allChars += f;
      }
    }
    for (const ch of o.requiredChars) {
      const c = ch.codePointAt(0)!;
      if (!charCount.has(c)) charCount.set(c, 0);
    }
    const forced = new Set([...o.requiredChars].map((ch) => ch.codePointAt(0)!));
    const byFreq = [...charCount].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    const required: [number, number][] = [];
    let covered = 0;
    for (const [c, f] of byFreq) {
      if (covered / allChars >= o.characterCoverage && !forced.has(c)) continue;
      covered += f;
      required.push([c, f]);
    }
    const budget = o.vocabSize - meta.size - required.length;
    if (budget < 0) {
      throw new TrainError(
        `vocab size ${o.vocabSize} is too small: ${meta.size} special/byte pieces and ${required.length} characters ` +
          `(character coverage ${o.characterCoverage}) need at least ${meta.size + required.length}; raise the vocab size or lower the character coverage`,
      );
    }

    // Symbols: the kept characters first (ids 0..C-1), merged pieces after.
    const symStr: string[] = [];
    const symId = new Map<string, number>();
    const charSym = new Map<number, number>();
    for (const [c] of required) {
      const s = String.fromCodePoint(c);
      charSym.set(c, symStr.length);
      symId.set(s, symStr.length);
      symStr.push(s);
    }

    // Words as symbol sequences (-1 for unknown characters), one flat array.
    let total = 0;
    for (const [w] of words) total += w.length;
    const syms = new Int32Array(total);
    const wordStart = new Int32Array(words.length);
    const wordLen = new Int32Array(words.length);
    const wordFreq = new Float64Array(words.length);
    let nWords = 0;
    let pos = 0;
    for (const [w, f] of words) {
      const start = pos;
      for (let k = 0; k < w.length; ) {
        const c = w.codePointAt(k)!;
        k += c > 0xffff ? 2 : 1;
        syms[pos++] = charSym.get(c) ?? -1;
      }
      if (pos - start < 2) {
        pos = start; // a one-character word has no pairs
        continue;
      }
      wordStart[nWords] = start;
      wordLen[nWords] = pos - start;
      wordFreq[nWords] = f;
      nWords++;
    }
    words.length = 0;

    const bpe = new PairCounter(symStr, o);
    for (let w = 0; w < nWords; w++) {
      const s = wordStart[w]!;
      const f = wordFreq[w]!;
      for (let i = s + 1; i < s + wordLen[w]!; i++) {
        const a = syms[i - 1]!;
        const b = syms[i]!;
        if (a >= 0 && b >= 0) bpe.inc(a, b, f, w);
      }
    }
    bpe.flushDirty();

    const progress: Progress = makeProgress("training BPE", budget, { silent: !o.progress, unit: "pieces" });
    const merged: string[] = [];
    let lastUpdate = 0;
    while (merged.length < budget) {
      const p = bpe.popBest();
      if (p < 0) break;
      const a = bpe.pairA[p]!;
      const b = bpe.pairB[p]!;
      const str = bpe.pairStr[p]!;
      let z = symId.get(str);
      if (z === undefined) {
        z = symStr.length;
        symStr.push(str);
        symId.set(str, z);
        merged.push(str);
      }
      // Replace (a, b) by z in every word that holds it, updating neighbouring pair counts.
      const list = bpe.takeWords(p);
      for (let k = 0; k < list.length; k++) {
        const w = list[k]!;
        if (k > 0 && list[k - 1] === w) continue;
        const s = wordStart[w]!;
        const len = wordLen[w]!;
        const f = wordFreq[w]!;
        let j = 0;
        let i = 0;
        while (i < len) {
          const x = syms[s + i]!;
          if (x === a && i + 1 < len && syms[s + i + 1] === b) {
            if (j > 0) {
              const prev = syms[s + j - 1]!;
              if (prev >= 0) {
                bpe.dec(prev, a, f);
                bpe.inc(prev, z, f, w);
              }
            }
            if (i + 2 < len) {
              const next = syms[s + i + 2]!;
              if (next >= 0) {
                bpe.dec(b, next, f);
                bpe.inc(z, next, f, w);
              }
            }
            bpe.dec(a, b, f);
            syms[s + j++] = z;
            i += 2;
          } else {
            syms[s + j++] = x;
            i++;
          }
        }
        wordLen[w] = j;
      }
      bpe.flushDirty();
      if (merged.length - lastUpdate >= 50 || merged.length === budget) {
        lastUpdate = merged.length;
        progress.update(merged.length, { pairs: bpe.livePairs() });
      }
    }
    progress.update(merged.length);
    progress.stop();
    if (merged.length < budget && o.hardVocabLimit) {
      const possible = o.vocabSize - (budget - merged.length);
      throw new TrainError(`the corpus only supports ${possible} pieces, fewer than vocab size ${o.vocabSize}; use a vocab size of at most ${possible} (or more text)`);
    }

    const model = this.buildModel(meta, merged, required);
    const stats: TrainStats = {
      sentences: this.stats.sentences,
      skippedTooLong: this.stats.skippedTooLong,
      words: this.stats.words,
      distinctWords,
      characters: allChars,
      requiredChars: required.length,
      merges: merged.length,
      seconds: (Date.now() - t0) / 1000,
    };
    return { model, stats };
  }

  /** id -> [piece, type] for unk/bos/eos/pad, control and user-defined symbols, byte pieces. */
  private metaPieces(): Map<number, [string, PieceType]> {
    const o = this.options;
    const meta = new Map<number, [string, PieceType]>();
    const put = (id: number, piece: string, type: PieceType): void => {
      if (id < 0) return;
      if (id >= o.vocabSize) throw new TrainError(`special id ${id} for ${piece} is outside the vocab size ${o.vocabSize}`);
      if (meta.has(id)) throw new TrainError(`id ${id} is used by both ${meta.get(id)![0]} and ${piece}`);
      meta.set(id, [piece, type]);
    };
    put(o.unkId, o.unkPiece, PieceType.UNKNOWN);
    put(o.bosId, o.bosPiece, PieceType.CONTROL);
    put(o.eosId, o.eosPiece, PieceType.CONTROL);
    put(o.padId, o.padPiece, PieceType.CONTROL);
    const used = new Set([...meta.values()].map((v) => v[0]));
    let next = 0;
    const append = (piece: string, type: PieceType): void => {
      if (used.has(piece)) throw new TrainError(`piece ${JSON.stringify(piece)} is defined twice`);
      used.add(piece);
      while (meta.has(next)) next++;
      put(next, piece, type);
    };
    for (const s of o.controlSymbols) append(s, PieceType.CONTROL);
    for (const s of o.userDefinedSymbols) append(s, PieceType.USER_DEFINED);
    if (o.byteFallback) for (let b = 0; b < 256; b++) append(byteToPiece(b), PieceType.BYTE);
    return meta;
  }

  private buildModel(meta: Map<number, [string, PieceType]>, merged: string[], required: [number, number][]): ModelProto {
    const o = this.options;
    const finals: [string, number][] = merged.map((s, i) => [s, -i]);
    for (const [c] of required) finals.push([String.fromCodePoint(c), -finals.length]);
    const pieces: ModelPiece[] = [];
    let f = 0;
    const size = meta.size + finals.length;
    for (let id = 0; id < Math.max(size, o.vocabSize) && pieces.length < size; id++) {
      const m = meta.get(id);
      if (m) pieces.push({ piece: m[0], score: 0, type: m[1] });
      else if (f < finals.length) {
        const [piece, score] = finals[f++]!;
        pieces.push({ piece, score, type: PieceType.NORMAL });
      }
    }
    return {
      pieces,
      trainerSpec: {
        input: o.input ?? [],
        modelPrefix: o.modelPrefix ?? "",
        modelType: ModelType.BPE,
        vocabSize: pieces.length,
        selfTestSampleSize: 0,
        inputFormat: "text",
        characterCoverage: o.characterCoverage,
        inputSentenceSize: o.inputSentenceSize,
        seedSentencepieceSize: 1000000,
        shrinkingFactor: 0.75,
        numThreads: 1,
        numSubIterations: 2,
        maxSentenceLength: o.maxSentenceLength,
        shuffleInputSentence: true,
        maxSentencepieceLength: o.maxSentencepieceLength,
        splitByUnicodeScript: o.splitByUnicodeScript,
        splitByWhitespace: o.splitByWhitespace,
        splitByNumber: o.splitByNumber,
        treatWhitespaceAsSuffix: false,
        splitDigits: o.splitDigits,
        allowWhitespaceOnlyPieces: o.allowWhitespaceOnlyPieces,
        controlSymbols: o.controlSymbols.length > 0 ? [...o.controlSymbols] : undefined,
        userDefinedSymbols: o.userDefinedSymbols.length > 0 ? [...o.userDefinedSymbols] : undefined,
        vocabularyOutputPieceScore: true,
        hardVocabLimit: o.hardVocabLimit,
        useAllVocab: false,
        byteFallback: o.byteFallback,
        requiredChars: o.requiredChars,
        unkId: o.unkId,
        bosId: o.bosId,
        eosId: o.eosId,
        padId: o.padId,
        unkSurface: TRAINER_DEFAULTS.unkSurface,
        unkPiece: o.unkPiece,
        bosPiece: o.bosPiece,
        eosPiece: o.eosPiece,
        padPiece: o.padPiece,
        trainExtremelyLargeCorpus: false,
        enableDifferentialPrivacy: false,
        differentialPrivacyNoiseLevel: 0,
        differentialPrivacyClippingThreshold: 0,
      },
      normalizerSpec: {
        name: "identity",
        precompiledCharsmap: new Uint8Array(0),
        addDummyPrefix: o.addDummyPrefix,
        removeExtraWhitespaces: o.removeExtraWhitespaces,
        escapeWhitespaces: true,
        normalizationRuleTsv: "",
      },
    };
  }
}

/**
 * Pair statistics for BPE training: (a, b) -> count, the words that (may) hold the pair,
 * and a lazy max-heap by (count desc, piece length asc, piece string asc).
 */
class PairCounter {
  private readonly table = new PairTable(1 << 16);
  pairA: number[] = [];
  pairB: number[] = [];
  pairStr: (string | undefined)[] = [];
  private pairLen: number[] = [];
  private pairCount: number[] = [];
  private pairWords: (number[] | undefined)[] = [];
  private dirtyStamp: number[] = [];
  private dirty: number[] = [];
  private stamp = 1;
  private heapCount: number[] = [];
  private heapPair: number[] = [];
  private readonly symStr: string[];
  private readonly opts: Resolved;

  constructor(symStr: string[], opts: Resolved) {
    this.symStr = symStr;
    this.opts = opts;
  }

  livePairs(): number {
    return this.heapPair.length;
  }

  /** Index of pair (a, b), created on first sight; -1 if its concatenation is not a valid piece. */
  private pair(a: number, b: number): number {
    let p = this.table.get(a, b);
    if (p >= 0) return this.pairStr[p] === undefined ? -1 : p;
    p = this.pairA.length;
    this.table.set(a, b, p);
    const str = this.symStr[a]! + this.symStr[b]!;
    const cps = Array.from(str, (ch) => ch.codePointAt(0)!);
    const valid = isValidPiece(cps, this.opts);
    this.pairA.push(a);
    this.pairB.push(b);
    this.pairStr.push(valid ? str : undefined);
    this.pairLen.push(cps.length);
    this.pairCount.push(0);
    this.pairWords.push(valid ? [] : undefined);
    this.dirtyStamp.push(0);
    return valid ? p : -1;
  }

  inc(a: number, b: number, f: number, word: number): void {
    const p = this.pair(a, b);
    if (p < 0) return;
    this.pairCount[p]! += f;
    const list = this.pairWords[p]!;
    if (list[list.length - 1] !== word) list.push(word);
    if (this.dirtyStamp[p] !== this.stamp) {
      this.dirtyStamp[p] = this.stamp;
      this.dirty.push(p);
    }
  }

  dec(a: number, b: number, f: number): void {
    const p = this.table.get(a, b);
    if (p < 0 || this.pairStr[p] === undefined) return;
    this.pairCount[p]! -= f;
  }

  /** Pushes pairs whose count grew since the last flush (decreases are found lazily on pop). */
  flushDirty(): void {
    for (const p of this.dirty) if (this.pairCount[p]! > 0) this.heapPush(this.pairCount[p]!, p);
    this.dirty.length = 0;
    this.stamp++;
  }

  /** The words that may hold pair p (sorted, with duplicates adjacent); clears the list. */
  takeWords(p: number): number[] {
    const list = this.pairWords[p] ?? [];
    this.pairWords[p] = [];
    list.sort((x, y) => x - y);
    return list;
  }

  /** The best pair with a positive, up-to-date count, or -1. */
  popBest(): number {
    for (;;) {
      if (this.heapPair.length === 0) return -1;
      const count = this.heapCount[0]!;
      const p = this.heapPair[0]!;
      this.heapPop();
      const now = this.pairCount[p]!;
      if (now <= 0) continue;
      if (now !== count) {
        this.heapPush(now, p);
        continue;
      }
      return p;
    }
  }

  private better(c1: number, p1: number, c2: number, p2: number): boolean {
    if (c1 !== c2) return c1 > c2;
    const l1 = this.pairLen[p1]!;
    const l2 = this.pairLen[p2]!;
    if (l1 !== l2) return l1 < l2;
    return compareCodepoints(this.pairStr[p1]!, this.pairStr[p2]!) < 0;
  }

  private heapPush(count: number, p: number): void {
    const hc = this.heapCount;
    const hp = this.heapPair;
    let i = hc.length;
    hc.push(count);
    hp.push(p);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.better(count, p, hc[parent]!, hp[parent]!)) break;
      hc[i] = hc[parent]!;
      hp[i] = hp[parent]!;
      i = parent;
    }
    hc[i] = count;
    hp[i] = p;
  }

  private heapPop(): void {
    const hc = this.heapCount;
    const hp = this.heapPair;
    const count = hc.pop()!;
    const p = hp.pop()!;
    const n = hc.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.better(hc[c + 1]!, hp[c + 1]!, hc[c]!, hp[c]!)) c++;
      if (!this.better(hc[c]!, hp[c]!, count, p)) break;
      hc[i] = hc[c]!;
      hp[i] = hp[c]!;
      i = c;
    }
    hc[i] = count;
    hp[i] = p;
  }
}

/** SentencePiece's TrainerInterface::IsValidSentencePiece for the options the trainer supports. */
export function isValidPiece(cps: readonly number[], o: Pick<Resolved, "maxSentencepieceLength" | "splitDigits" | "splitByNumber" | "splitByUnicodeScript" | "splitByWhitespace" | "allowWhitespaceOnlyPieces">): boolean {
  const n = cps.length;
  if (n === 0 || n > o.maxSentencepieceLength) return false;
  let allWs = true;
  for (const c of cps) if (c !== WS) allWs = false;
  let prev = ANY_SCRIPT;
  for (let pos = 0; pos < n; pos++) {
    const c = cps[pos]!;
    if (c === 0) return false;
    if (c === WS) {
      if (!o.allowWhitespaceOnlyPieces || !allWs) {
        if (o.splitByWhitespace ? pos > 0 : pos > 0 && pos === n - 1) return false;
      }
      continue;
    }
    let s = scriptOf(c);
    if (s === SCRIPT_HIRAGANA || s === SCRIPT_KATAKANA || c === 0x30fc) s = SCRIPT_HAN;
    else if (s === SCRIPT_INHERITED) s = prev;
    const isDigit = c >= 0x30 && c <= 0x39;
    if (!o.splitByNumber && isDigit) s = ANY_SCRIPT;
    if (o.splitDigits && isDigit && n > 1) return false;
    if (o.splitByUnicodeScript && s !== ANY_SCRIPT && prev !== ANY_SCRIPT && prev !== s) return false;
    prev = s;
  }
  return true;
}
