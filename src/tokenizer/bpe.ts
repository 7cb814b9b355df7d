/**
 * BPE segmentation with SentencePiece's exact semantics (bpe_model.cc, Model::Encode):
 * start from single characters (user-defined symbols are matched first and frozen), and
 * repeatedly merge the adjacent pair whose concatenation is a piece with the highest score,
 * ties going to the leftmost pair. Unknown characters become their UTF-8 bytes (<0xXX>)
 * with byte fallback, or one <unk> per run of unknown pieces without it.
 *
 * Cost: O(n log n) per segment with a binary heap of candidate pairs over a doubly linked
 * list of symbols; merge lookup is (left id, right id) -> merged id in a hash table, so no
 * strings are built in the hot loop.
 *
 * Speed-up that keeps the ids exact: the normalised text is cut into segments before '▁'
 * wherever no piece contains the two code points on either side of the cut (for LLaMA: any
 * character other than '▁' followed by '▁'). No merge can cross such a cut, and merges on
 * either side never compete (the order of two merges in different segments does not change
 * either result), so segments can be encoded independently and cached.
 */
import { PieceType } from "./model-proto.js";
import { Vocab } from "./model.js";
import { PrefixMatcher, SPACE_SYMBOL } from "./normalizer.js";
import { PairTable } from "./pair-table.js";
import { utf8Encode } from "./utf8.js";

const SPACE_CP = SPACE_SYMBOL.codePointAt(0)!;
/** Segments up to this many UTF-16 units are cached. */
const CACHE_MAX_SEGMENT = 48;
const CACHE_MAX_ENTRIES = 1 << 17;

export class BpeEncoder {
  private readonly vocab: Vocab;
  private readonly matcher: PrefixMatcher | undefined;
  private readonly charIdBmp = new Int32Array(0x10000).fill(-1);
  private readonly charIdAstral = new Map<number, number>();
  private readonly merges: PairTable;
  /** id in the normal table -> the id SentencePiece reports for that piece (reserved pieces win). */
  private readonly outputId: Int32Array;
  private readonly isUnknownId: Uint8Array;
  /** Some piece holds a character that is not itself a piece (then merges need string lookups). */
  private readonly unknownCharPieces: boolean;
  /** Code points X such that some piece contains X directly followed by '▁'. */
  private readonly beforeSpace = new Set<number>();
  /** beforeSpace for BMP code points, as a bitmap. */
  private readonly beforeSpaceBmp = new Uint8Array(0x10000);
  private readonly segmentable: boolean;
  private readonly cache = new Map<string, Int32Array>();

  // Scratch buffers, grown on demand and reused across calls.
  private cap = 0;
  private symId = new Int32Array(0);
  private symStart = new Int32Array(0);
  private symEnd = new Int32Array(0);
  private symPrev = new Int32Array(0);
  private symNext = new Int32Array(0);
  private symFrozen = new Uint8Array(0);
  private heapScore = new Float64Array(0);
  private heapLeft = new Int32Array(0);
  private heapPair = new Int32Array(0);
  private pairRight = new Int32Array(0);
  private pairSize = new Int32Array(0);
  private pairId = new Int32Array(0);
  private segOut: number[] = [];
  /** Only for models with UNUSED pieces: merged piece -> the pair last seen making it. */
  private revMerge: Map<string, [string, string]> | undefined;

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    this.matcher = vocab.userDefined.length > 0 ? new PrefixMatcher(vocab.userDefined) : undefined;
    const n = vocab.size;
    this.outputId = new Int32Array(n);
    this.isUnknownId = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      this.outputId[i] = vocab.reserved.get(vocab.pieces[i]!) ?? i;
      this.isUnknownId[i] = vocab.types[i] === PieceType.UNKNOWN ? 1 : 0;
    }
    // Single characters that are pieces.
    for (const [piece, id] of vocab.normal) {
      const cp = piece.codePointAt(0)!;
      if (piece.length !== (cp > 0xffff ? 2 : 1)) continue;
      if (cp <= 0xffff) this.charIdBmp[cp] = id;
      else this.charIdAstral.set(cp, id);
    }
    // Merge table: every split of a piece into two pieces.
    this.merges = new PairTable(vocab.normal.size * 2);
    let unknownChars = false;
    let innerSpaceUserDefined = false;
    for (const [piece, id] of vocab.normal) {
      let prevCp = -1;
      for (let k = 0; k < piece.length; ) {
        const cp = piece.codePointAt(k)!;
        if (this.charId(cp) < 0) unknownChars = true;
        if (cp === SPACE_CP && prevCp >= 0) {
          this.beforeSpace.add(prevCp);
          if (prevCp <= 0xffff) this.beforeSpaceBmp[prevCp] = 1;
          if (vocab.types[id] === PieceType.USER_DEFINED) innerSpaceUserDefined = true;
        }
        prevCp = cp;
        k += cp > 0xffff ? 2 : 1;
        if (k < piece.length) {
          const left = vocab.normal.get(piece.slice(0, k));
          const right = vocab.normal.get(piece.slice(k));
          if (left !== undefined && right !== undefined) this.merges.set(left, right, id);
        }
      }
    }
    this.unknownCharPieces = unknownChars;
    // Models with UNUSED pieces need SentencePiece's whole-sentence re-segmentation state.
    this.segmentable = !vocab.hasUnused && !innerSpaceUserDefined;
  }

  private charId(cp: number): number {
    return cp <= 0xffff ? this.charIdBmp[cp]! : (this.charIdAstral.get(cp) ?? -1);
  }

  /** Appends the ids of a normalised string (no BOS/EOS) to out. */
  encodeNormalized(norm: string, out: number[]): void {
    if (norm.length === 0) return;
    const start = out.length;
    if (!this.segmentable) {
      this.revMerge = this.vocab.hasUnused ? new Map() : undefined;
      this.segOut.length = 0;
      this.encodeSegment(norm, 0, norm.length, this.segOut);
      this.append(out, start, this.segOut);
      this.revMerge = undefined;
      return;
    }
    let segStart = 0;
    let i = norm.indexOf(SPACE_SYMBOL, 1);
    while (i > 0) {
      if (i > segStart) {
        const c = norm.charCodeAt(i - 1);
        const cut = c >= 0xdc00 && c <= 0xdfff && i >= 2 ? !this.beforeSpace.has(norm.codePointAt(i - 2)!) : this.beforeSpaceBmp[c] === 0;
        if (cut) {
          this.segment(norm, segStart, i, out, start);
          segStart = i;
        }
      }
      i = norm.indexOf(SPACE_SYMBOL, i + 1);
    }
    this.segment(norm, segStart, norm.length, out, start);
  }

  private segment(norm: string, a: number, b: number, out: number[], sentenceStart: number): void {
    if (b - a <= CACHE_MAX_SEGMENT) {
      const key = norm.slice(a, b);
      let ids = this.cache.get(key);
      if (!ids) {
        this.segOut.length = 0;
        this.encodeSegment(norm, a, b, this.segOut);
        ids = Int32Array.from(this.segOut);
        if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
        this.cache.set(key, ids);
      }
      this.append(out, sentenceStart, ids);
      return;
    }
    this.segOut.length = 0;
    this.encodeSegment(norm, a, b, this.segOut);
    this.append(out, sentenceStart, this.segOut);
  }

  /** Appends a segment's ids; without byte fallback a run of unknowns is one <unk> across segments too. */
  private append(out: number[], sentenceStart: number, ids: ArrayLike<number>): void {
    let k = 0;
    if (ids.length > 0 && out.length > sentenceStart && this.isUnknownId[ids[0]!] && this.isUnknownId[out[out.length - 1]!]) k = 1;
    for (; k < ids.length; k++) out.push(ids[k]!);
  }

  private ensure(n: number): void {
    if (n <= this.cap) return;
    const cap = Math.max(n, this.cap * 2, 64);
    this.cap = cap;
    this.symId = new Int32Array(cap);
    this.symStart = new Int32Array(cap);
    this.symEnd = new Int32Array(cap);
    this.symPrev = new Int32Array(cap);
    this.symNext = new Int32Array(cap);
    this.symFrozen = new Uint8Array(cap);
    const pcap = 3 * cap + 3;
    this.heapScore = new Float64Array(pcap);
    this.heapLeft = new Int32Array(pcap);
    this.heapPair = new Int32Array(pcap);
    this.pairRight = new Int32Array(pcap);
    this.pairSize = new Int32Array(pcap);
    this.pairId = new Int32Array(pcap);
  }

  /** BPE over norm[a, b); appends final ids (after byte fallback / unknown merging) to out. */
  private encodeSegment(norm: string, a: number, b: number, out: number[]): void {
    this.ensure(b - a);
    const symId = this.symId;
    const symStart = this.symStart;
    const symEnd = this.symEnd;
    const symPrev = this.symPrev;
    const symNext = this.symNext;
    const symFrozen = this.symFrozen;
    const matcher = this.matcher;
    const normal = this.vocab.normal;

    // Split into characters (user-defined symbols first, frozen).
    let n = 0;
    for (let pos = a; pos < b; ) {
      let len = 0;
      let frozen = 0;
      let id: number;
      if (matcher) {
        len = matcher.match(norm, pos);
        if (len > b - pos) len = 0;
      }
      if (len > 0) {
        frozen = 1;
        id = normal.get(norm.slice(pos, pos + len)) ?? -1;
      } else {
        const c = norm.charCodeAt(pos);
        if (c >= 0xd800 && c <= 0xdbff && pos + 1 < b) {
          const cp = norm.codePointAt(pos)!;
          len = cp > 0xffff ? 2 : 1;
          id = this.charId(cp);
        } else {
          len = 1;
          id = this.charIdBmp[c]!;
        }
      }
      symId[n] = id;
      symStart[n] = pos;
      symEnd[n] = pos + len;
      symPrev[n] = n - 1;
      symNext[n] = pos + len < b ? n + 1 : -1;
      symFrozen[n] = frozen;
      n++;
      pos += len;
    }

    // Candidate pairs: a binary max-heap ordered by (score desc, left index asc), with the
    // keys stored in heap order (no indirection in comparisons); the rest of a pair's data
    // sits in pair-indexed arrays read only when it is popped.
    let heapLen = 0;
    let nPairs = 0;
    const hScore = this.heapScore;
    const hLeft = this.heapLeft;
    const hPair = this.heapPair;
    const pairRight = this.pairRight;
    const pairSize = this.pairSize;
    const pairId = this.pairId;
    const scores = this.vocab.scores;

    const push = (score: number, left: number, p: number): void => {
      let i = heapLen++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        const ps = hScore[parent]!;
        if (!(score > ps || (score === ps && left < hLeft[parent]!))) break;
        hScore[i] = ps;
        hLeft[i] = hLeft[parent]!;
        hPair[i] = hPair[parent]!;
        i = parent;
      }
      hScore[i] = score;
      hLeft[i] = left;
      hPair[i] = p;
    };
    /** Places (score, left, p) at hole i and sifts it down. */
    const siftDown = (i: number, score: number, left: number, p: number): void => {
      const len = heapLen;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= len) break;
        let cs = hScore[c]!;
        let cl = hLeft[c]!;
        if (c + 1 < len) {
          const ds = hScore[c + 1]!;
          const dl = hLeft[c + 1]!;
          if (ds > cs || (ds === cs && dl < cl)) {
            c++;
            cs = ds;
            cl = dl;
          }
        }
        if (!(cs > score || (cs === score && cl < left))) break;
        hScore[i] = cs;
        hLeft[i] = cl;
        hPair[i] = hPair[c]!;
        i = c;
      }
      hScore[i] = score;
      hLeft[i] = left;
      hPair[i] = p;
    };
    /** Removes the top; the caller has read it. */
    const popTop = (): void => {
      const last = --heapLen;
      siftDown(0, hScore[last]!, hLeft[last]!, hPair[last]!);
    };
    let heapified = false;
    const maybeAdd = (l: number, r: number): void => {
      if (l < 0 || r < 0 || symFrozen[l] || symFrozen[r]) return;
      const idL = symId[l]!;
      const idR = symId[r]!;
      let merged = idL >= 0 && idR >= 0 ? this.merges.get(idL, idR) : -1;
      if (merged < 0 && this.unknownCharPieces && (idL < 0 || idR < 0)) {
        merged = normal.get(norm.slice(symStart[l]!, symEnd[r]!)) ?? -1;
      }
      if (merged < 0) return;
      const p = nPairs++;
      pairRight[p] = r;
      pairSize[p] = symEnd[r]! - symStart[l]!;
      pairId[p] = merged;
      if (heapified) push(scores[merged]!, l, p);
      else {
        hScore[heapLen] = scores[merged]!;
        hLeft[heapLen] = l;
        hPair[heapLen++] = p;
      }
      if (this.revMerge && this.vocab.types[merged] === PieceType.UNUSED) {
        this.revMerge.set(norm.slice(symStart[l]!, symEnd[r]!), [norm.slice(symStart[l]!, symEnd[l]!), norm.slice(symStart[r]!, symEnd[r]!)]);
      }
    };

    for (let i = 1; i < n; i++) maybeAdd(i - 1, i);
    // Floyd's heap construction for the initial bigrams: O(n).
    for (let i = (heapLen >> 1) - 1; i >= 0; i--) siftDown(i, hScore[i]!, hLeft[i]!, hPair[i]!);
    heapified = true;

    while (heapLen > 0) {
      const l = hLeft[0]!;
      const p = hPair[0]!;
      popTop();
      const r = pairRight[p]!;
      const lenL = symEnd[l]! - symStart[l]!;
      const lenR = symEnd[r]! - symStart[r]!;
      if (lenL === 0 || lenR === 0 || lenL + lenR !== pairSize[p]) continue;
      // Merge r into l. Symbols are contiguous in the text, so l now spans to r's end.
      symEnd[l] = symEnd[r]!;
      symId[l] = pairId[p]!;
      const next = symNext[r]!;
      symNext[l] = next;
      if (next >= 0) symPrev[next] = l;
      symEnd[r] = symStart[r]!;
      maybeAdd(symPrev[l]!, l);
      maybeAdd(l, next);
    }

    // Emit.
    const vocab = this.vocab;
    for (let i = 0; i >= 0; i = symNext[i]!) {
      const id = symId[i]!;
      if (this.revMerge) {
        this.resegment(norm.slice(symStart[i]!, symEnd[i]!), out);
        continue;
      }
      let outId: number;
      if (id >= 0) outId = this.outputId[id]!;
      else outId = vocab.reserved.get(norm.slice(symStart[i]!, symEnd[i]!)) ?? vocab.unkId;
      this.emit(outId, norm, symStart[i]!, symEnd[i]!, out);
    }
  }

  /** SentencePiece's resegment: an UNUSED piece is replaced by the pair that formed it. */
  private resegment(w: string, out: number[]): void {
    const id = this.vocab.pieceToId(w);
    if (this.vocab.types[id] === PieceType.UNUSED) {
      const pair = this.revMerge!.get(w);
      if (pair) {
        this.resegment(pair[0], out);
        this.resegment(pair[1], out);
        return;
      }
    }
    this.emit(id, w, 0, w.length, out);
  }

  /** PopulateSentencePieceText: byte fallback for unknown pieces, else one <unk> per run. */
  private emit(id: number, text: string, start: number, end: number, out: number[]): void {
    if (!this.isUnknownId[id]) {
      out.push(id);
      return;
    }
    if (this.vocab.byteFallback) {
      for (const byte of utf8Encode(text.slice(start, end))) out.push(this.vocab.byteIds[byte]!);
      return;
    }
    if (out.length > 0 && this.isUnknownId[out[out.length - 1]!]) return;
    out.push(id);
  }
}
