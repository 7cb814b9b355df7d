/**
 * SentencePiece's precompiled normalisation map (NormalizerSpec.precompiled_charsmap): a
 * little-endian uint32 with the size of a Darts-clone double-array trie, the trie's units,
 * then NUL-terminated replacement strings. The trie maps UTF-8 byte prefixes of the input to
 * offsets of their replacements. LLaMA's "identity" normaliser has an empty map; models
 * trained with spm's defaults (nmt_nfkc) or a normalization_rule_tsv have one.
 */
import { ModelError } from "./model.js";

export interface CharsmapMatch {
  /** Bytes of input consumed. */
  length: number;
  /** The replacement (UTF-8 bytes, without the terminating NUL). */
  replacement: Uint8Array;
}

export class Charsmap {
  private readonly units: Uint32Array;
  private readonly normalized: Uint8Array;

  constructor(blob: Uint8Array) {
    if (blob.length < 4) throw new ModelError(`precompiled_charsmap is ${blob.length} bytes, too short for its header`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length || trieSize === 0) {
      throw new ModelError(`precompiled_charsmap: trie size ${trieSize} does not fit in ${blob.length} bytes`);
    }
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + i * 4, true);
    this.normalized = blob.slice(4 + trieSize);
  }

  /**
   * Longest rule matching a prefix of bytes[pos..end) (Darts commonPrefixSearch, then the
   * longest result, as Normalizer::NormalizePrefix does), or undefined.
   */
  longestMatch(bytes: Uint8Array, pos: number, end: number): CharsmapMatch | undefined {
    const units = this.units;
    let nodePos = 0;
    let unit = units[0]!;
    nodePos ^= offsetOf(unit);
    let bestLen = 0;
    let bestValue = -1;
    for (let i = pos; i < end; i++) {
      const c = bytes[i]!;
      // SentencePiece passes the length, but a NUL byte can never be a key byte in Darts.
      if (c === 0) break;
      nodePos ^= c;
      if (nodePos >= units.length) break;
      unit = units[nodePos]!;
      if (labelOf(unit) !== c) break;
      nodePos ^= offsetOf(unit);
      if (hasLeaf(unit)) {
        const len = i - pos + 1;
        if (len > bestLen) {
          bestLen = len;
          bestValue = valueOf(units[nodePos]!);
        }
      }
    }
    if (bestLen === 0) return undefined;
    let stop = bestValue;
    while (stop < this.normalized.length && this.normalized[stop] !== 0) stop++;
    return { length: bestLen, replacement: this.normalized.subarray(bestValue, stop) };
  }
}

// Darts-clone DoubleArrayUnit accessors.
function hasLeaf(u: number): boolean {
  return ((u >>> 8) & 1) === 1;
}
function valueOf(u: number): number {
  return u & 0x7fffffff;
}
function labelOf(u: number): number {
  return (u & 0x800000ff) >>> 0;
}
function offsetOf(u: number): number {
  return (u >>> 10) << ((u & (1 << 9)) >>> 6);
}
