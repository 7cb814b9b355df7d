/**
 * The BPE model of Hugging Face `tokenizers` (models/bpe), as `tokenizer.json` describes it:
 * a vocabulary (string -> id) and ranked merges "a b". One word is encoded as HF's
 * BPE::merge_word does:
 *
 *   1. each character becomes its vocabulary id; a character that is not in the vocabulary
 *      becomes its UTF-8 bytes `<0xXX>` with `byte_fallback` (when all 256 exist), else the
 *      unknown token (consecutive unknowns fused into one with `fuse_unk`; without an
 *      unknown token the character is dropped);
 *   2. repeatedly the adjacent pair with the lowest merge rank is merged (ties: leftmost),
 *      until no adjacent pair is a merge;
 *   3. with `ignore_merges`, a word that is itself in the vocabulary is that one id.
 *
 * Cost: a binary heap of candidate pairs keyed (rank, position) over a doubly linked list of
 * symbols, O(n log n) per word, with merge lookup (left id, right id) -> rank in a PairTable.
 * Words are cached. Long words without a pre-tokenizer (SentencePiece-style files encode a
 * whole text as one word) are cut before '▁' wherever no merge joins the character on the
 * left with '▁': no merge can cross such a cut and merges on either side never compete, so
 * the pieces give the same ids as the whole.
 */
import { UserError } from "../util/errors.js";
import { PairTable } from "./pair-table.js";
import { byteToPiece } from "./model.js";
import { utf8Encode } from "./utf8.js";

export interface HfBpeSpec {
  vocab: ReadonlyMap<string, number>;
  /** Merges in rank order, as tokenizer.json holds them: "a b" strings or [a, b] pairs. */
  merges: readonly unknown[];
  unkToken: string | null;
  fuseUnk: boolean;
  byteFallback: boolean;
  ignoreMerges: boolean;
}

const SPACE = "\u2581";
const SPACE_CODE = 0x2581;
const CACHE_MAX_WORD = 64;
const CACHE_MAX_ENTRIES = 1 << 17;

export class HfBpe {
  readonly vocab: ReadonlyMap<string, number>;
  private readonly ranks: PairTable;
  /** rank -> id of the merged token. */
  private readonly mergedId: Int32Array;
  /** rank -> its two parts (2·rank, 2·rank + 1). */
  private readonly parts: string[];
  private readonly unkId: number;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  /** byte -> id of `<0xXX>`, all -1 without (complete) byte fallback. */
  private readonly byteIds: Int32Array | undefined;
  private readonly charIdBmp = new Int32Array(0x10000).fill(-1);
  /** '▁' is a token and some merge has a right part starting with it: the left parts' last code points. */
  private readonly beforeSpace = new Set<number>();
  private readonly segmentable: boolean;
  private readonly cache = new Map<string, Int32Array>();

  // Scratch buffers reused across words.
  private cap = 0;
  private symId = new Int32Array(0);
  private symPrev = new Int32Array(0);
  private symNext = new Int32Array(0);
  private heapRank = new Int32Array(0);
  private heapPos = new Int32Array(0);
  private out: number[] = [];

  constructor(spec: HfBpeSpec) {
    this.vocab = spec.vocab;
    this.fuseUnk = spec.fuseUnk;
    this.ignoreMerges = spec.ignoreMerges;
    if (spec.unkToken !== null) {
      const id = spec.vocab.get(spec.unkToken);
      if (id === undefined) throw new UserError(`tokenizer.json: the unknown token ${JSON.stringify(spec.unkToken)} is not in the vocabulary`);
      this.unkId = id;
    } else this.unkId = -1;
    if (spec.byteFallback) {
      const ids = new Int32Array(256);
      let complete = true;
      for (let b = 0; b < 256; b++) {
        const id = spec.vocab.get(byteToPiece(b));
        if (id === undefined) complete = false;
        ids[b] = id ?? -1;
      }
      // HF falls back to bytes only when every byte of the character has a token.
      this.byteIds = complete || ids.some((id) => id >= 0) ? ids : undefined;
    }
    spec.vocab.forEach((id, tok) => {
      if (tok.length === 1) this.charIdBmp[tok.charCodeAt(0)] = id;
    });
    const merges = spec.merges;
    const n = merges.length;
    this.ranks = new PairTable(n);
    // The merged ids are looked up when a merge is first used (half the load time otherwise).
    this.mergedId = new Int32Array(n).fill(-1);
    this.parts = new Array<string>(2 * n);
    const spaceIsToken = spec.vocab.has(SPACE);
    for (let rank = 0; rank < n; rank++) {
      const [a, b] = mergeParts(merges[rank], rank);
      const ia = spec.vocab.get(a);
      const ib = spec.vocab.get(b);
      if (ia === undefined || ib === undefined) {
        throw new UserError(`tokenizer.json: merge ${rank} ${JSON.stringify(`${a} ${b}`)} uses a token that is not in the vocabulary`);
      }
      // A later duplicate of a pair wins, as in HF's HashMap.
      this.ranks.set(ia, ib, rank);
      this.parts[2 * rank] = a;
      this.parts[2 * rank + 1] = b;
      if (spaceIsToken && b.charCodeAt(0) === SPACE_CODE) this.beforeSpace.add(lastCodePoint(a));
    }
    this.segmentable = spaceIsToken && !spec.ignoreMerges;
  }

  /** The id of the token a merge makes (HF refuses a file where it is missing). */
  private merged(rank: number): number {
    let id = this.mergedId[rank]!;
    if (id < 0) {
      const text = this.parts[2 * rank]! + this.parts[2 * rank + 1]!;
      id = this.vocab.get(text) ?? -1;
      if (id < 0) throw new UserError(`tokenizer.json: the result of merge ${rank} ${JSON.stringify(text)} is not in the vocabulary`);
      this.mergedId[rank] = id;
    }
    return id;
  }

  /** The merges as "a b" strings, in rank order. */
  mergeStrings(): string[] {
    const out = new Array<string>(this.mergedId.length);
    for (let r = 0; r < out.length; r++) out[r] = `${this.parts[2 * r]} ${this.parts[2 * r + 1]}`;
    return out;
  }

  /** The id of a one-character token, or -1. */
  private charId(s: string, i: number, len: number): number {
    if (len === 1) return this.charIdBmp[s.charCodeAt(i)]!;
    return this.vocab.get(s.slice(i, i + len)) ?? -1;
  }

  /** Appends the ids of one pre-tokenized word. */
  encodeWord(word: string, out: number[]): void {
    if (word.length === 0) return;
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    if (!this.segmentable || word.length <= CACHE_MAX_WORD) {
      this.cached(word, out);
      return;
    }
    let start = 0;
    let i = word.indexOf(SPACE, 1);
    while (i > 0) {
      if (this.canCutBefore(word, i)) {
        this.cached(word.slice(start, i), out);
        start = i;
      }
      i = word.indexOf(SPACE, i + 1);
    }
    this.cached(word.slice(start), out);
  }

  /** No merge can join the symbol ending at i-1 with the '▁' at i. */
  private canCutBefore(word: string, i: number): boolean {
    const c = word.charCodeAt(i - 1);
    const astral = isLowSurrogate(c) && i >= 2;
    const cp = astral ? word.codePointAt(i - 2)! : c;
    // A character that is not itself a token ends in a byte or unknown token: stay exact, don't cut.
    if (this.charId(word, astral ? i - 2 : i - 1, astral ? 2 : 1) < 0) return false;
    return !this.beforeSpace.has(cp);
  }

  private cached(word: string, out: number[]): void {
    if (word.length > CACHE_MAX_WORD) {
      this.mergeWord(word, out);
      return;
    }
    let ids = this.cache.get(word);
    if (!ids) {
      this.out.length = 0;
      this.mergeWord(word, this.out);
      ids = Int32Array.from(this.out);
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
  }

  private grow(n: number): void {
    if (n <= this.cap) return;
    let cap = Math.max(64, this.cap);
    while (cap < n) cap *= 2;
    this.cap = cap;
    this.symId = new Int32Array(cap);
    this.symPrev = new Int32Array(cap);
    this.symNext = new Int32Array(cap);
    // At most n - 1 initial candidates plus two per merge.
    this.heapRank = new Int32Array(cap * 3);
    this.heapPos = new Int32Array(cap * 3);
  }

  /** HF's merge_word: initial symbols, then merges by rank. */
  private mergeWord(word: string, out: number[]): void {
    // Each UTF-16 unit can give at most 3 byte symbols (a BMP character), astral pairs 4.
    this.grow(word.length * 3 + 1);
    const ids = this.symId;
    let n = 0;
    let pendingUnk = false;
    for (let i = 0; i < word.length; ) {
      const len = isHighSurrogate(word.charCodeAt(i)) && i + 1 < word.length && isLowSurrogate(word.charCodeAt(i + 1)) ? 2 : 1;
      const id = this.charId(word, i, len);
      if (id >= 0) {
        if (pendingUnk) ids[n++] = this.unkId;
        pendingUnk = false;
        ids[n++] = id;
      } else {
        const m = this.byteFallbackChar(word.slice(i, i + len), ids, n);
        if (m >= 0) n = m;
        else if (this.unkId >= 0) {
          // HF keeps one pending unknown; without fuse_unk each new one flushes the previous.
          if (pendingUnk && !this.fuseUnk) ids[n++] = this.unkId;
          pendingUnk = true;
        }
      }
      i += len;
    }
    if (pendingUnk) ids[n++] = this.unkId;
    this.merge(n);
    for (let i = 0; i !== -1 && n > 0; i = this.symNext[i]!) out.push(ids[i]!);
  }

  /** Writes the byte tokens of ch at ids[n..] when every byte has one: the new count, else -1. */
  private byteFallbackChar(ch: string, ids: Int32Array, n: number): number {
    const byteIds = this.byteIds;
    if (!byteIds) return -1;
    const bytes = utf8Encode(ch);
    for (const b of bytes) if (byteIds[b]! < 0) return -1;
    for (const b of bytes) ids[n++] = byteIds[b]!;
    return n;
  }

  /** Merges the n symbols in symId[0..n) in place (linked through symPrev/symNext). */
  private merge(n: number): void {
    const ids = this.symId;
    const prev = this.symPrev;
    const next = this.symNext;
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    let size = 0;
    const push = (rank: number, pos: number): void => {
      const hr = this.heapRank;
      const hp = this.heapPos;
      let k = size++;
      while (k > 0) {
        const p = (k - 1) >> 1;
        if (hr[p]! < rank || (hr[p] === rank && hp[p]! < pos)) break;
        hr[k] = hr[p]!;
        hp[k] = hp[p]!;
        k = p;
      }
      hr[k] = rank;
      hp[k] = pos;
    };
    const pop = (): void => {
      const hr = this.heapRank;
      const hp = this.heapPos;
      const rank = hr[--size]!;
      const pos = hp[size]!;
      let k = 0;
      for (;;) {
        let c = 2 * k + 1;
        if (c >= size) break;
        if (c + 1 < size && (hr[c + 1]! < hr[c]! || (hr[c + 1] === hr[c] && hp[c + 1]! < hp[c]!))) c++;
        if (rank < hr[c]! || (rank === hr[c] && pos < hp[c]!)) break;
        hr[k] = hr[c]!;
        hp[k] = hp[c]!;
        k = c;
      }
      hr[k] = rank;
      hp[k] = pos;
    };
    for (let i = 0; i + 1 < n; i++) {
      const r = this.ranks.get(ids[i]!, ids[i + 1]!);
      if (r >= 0) push(r, i);
    }
    while (size > 0) {
      const rank = this.heapRank[0]!;
      const pos = this.heapPos[0]!;
      pop();
      // Stale entry: the symbol was absorbed (ids set to -1) or its right neighbour changed.
      if (ids[pos]! < 0) continue;
      const right = next[pos]!;
      if (right < 0 || this.ranks.get(ids[pos]!, ids[right]!) !== rank) continue;
      ids[pos] = this.merged(rank);
      ids[right] = -1;
      const after = next[right]!;
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      const before = prev[pos]!;
      if (before >= 0) {
        const r = this.ranks.get(ids[before]!, ids[pos]!);
        if (r >= 0) push(r, before);
      }
      if (after >= 0) {
        const r = this.ranks.get(ids[pos]!, ids[after]!);
        if (r >= 0) push(r, pos);
      }
    }
  }
}

/** A merge as "a b" (split at the only space) or [a, b]. */
function mergeParts(m: unknown, i: number): [string, string] {
  if (typeof m === "string") {
    const sp = m.indexOf(" ");
    if (sp > 0 && sp < m.length - 1 && m.indexOf(" ", sp + 1) < 0) return [m.slice(0, sp), m.slice(sp + 1)];
  } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return [m[0], m[1]];
  throw new UserError(`tokenizer.json: merge ${i} ${JSON.stringify(m)} is neither "a b" nor ["a", "b"]`);
}

function lastCodePoint(s: string): number {
  const c = s.charCodeAt(s.length - 1);
  return isLowSurrogate(c) && s.length >= 2 ? s.codePointAt(s.length - 2)! : c;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
