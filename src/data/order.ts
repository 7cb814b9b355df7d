/**
 * Seeded orders that are pure functions of (seed, counters), with no Node built-ins (the
 * browser build draws training windows with them too): counter-based 32-bit hashing, a seeded
 * bijection on [0, n) (a Feistel network with cycle walking) that shuffles windows without
 * materialising a permutation, and the window order of a token stream (data/sampler.ts):
 *
 *   sequential: window w starts at w·T
 *   shuffled:   n = max(1, floor(L / T)) windows per epoch; window w starts at
 *               π_e(w mod n)·T, e = floor(w / n), π_e the Feistel permutation keyed by (seed, 0x70f1, e)
 *
 * (start positions are taken modulo L by the reader: the stream is circular).
 */

export type WindowOrder = "sequential" | "shuffled";

/** murmur3's 32-bit finaliser: a good avalanche on one word. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes a short list of integers (each taken modulo 2^32, or split when larger) to 32 bits. */
export function hashInts(...values: number[]): number {
  let h = 0x2545f491;
  for (const v of values) {
    const lo = v >>> 0;
    const hi = Math.floor(v / 4294967296) >>> 0;
    h = fmix32((h ^ lo) + 0x9e3779b9);
    h = fmix32((h ^ hi) + 0x7f4a7c15);
  }
  return h;
}

/** A uniform number in [0, 1) that depends only on the given integers. */
export function uniformFrom(...values: number[]): number {
  const a = hashInts(...values);
  const b = hashInts(a, ...values);
  return ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992;
}

/**
 * A seeded bijection of [0, n): a 4-round balanced Feistel network on the smallest
 * even-bit domain 2^(2h) >= n, with cycle walking back into [0, n) (expected < 4 steps).
 * `at(i)` is O(1) in time and memory, so an epoch's shuffled order never has to be stored.
 */
export class FeistelPermutation {
  private readonly halfBits: number;
  private readonly halfSize: number;
  private readonly keys: number[];

  constructor(readonly n: number, key: number[]) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`FeistelPermutation: n must be a positive integer, got ${n}`);
    if (n > 2 ** 52) throw new Error(`FeistelPermutation: n = ${n} is too large`);
    let bits = 1;
    while (2 ** bits < n) bits++;
    this.halfBits = Math.max(1, Math.ceil(bits / 2));
    this.halfSize = 2 ** this.halfBits;
    this.keys = [0, 1, 2, 3].map((r) => hashInts(...key, r));
  }

  at(i: number): number {
    if (!(i >= 0 && i < this.n)) throw new Error(`FeistelPermutation.at: ${i} is outside [0, ${this.n})`);
    let x = i;
    do x = this.encrypt(x);
    while (x >= this.n);
    return x;
  }

  private encrypt(x: number): number {
    const size = this.halfSize;
    const mask = size - 1;
    let left = Math.floor(x / size);
    let right = x % size;
    for (const k of this.keys) {
      const f = fmix32(right ^ k) & mask; // halfBits <= 26, so the mask fits in 32 bits
      const next = (left ^ f) >>> 0;
      left = right;
      right = next & mask;
    }
    return left * size + right;
  }
}

/** The permutation of an epoch, cached (building one is cheap, but it is asked for every window). */
export class EpochPermutations {
  private epoch = -1;
  private perm: FeistelPermutation | null = null;
  constructor(
    private readonly n: number,
    private readonly key: number[],
  ) {}
  at(epoch: number, j: number): number {
    if (epoch !== this.epoch || this.perm === null) {
      this.perm = new FeistelPermutation(this.n, [...this.key, epoch]);
      this.epoch = epoch;
    }
    return this.perm.at(j);
  }
}

/** Where each window of a stream of `length` tokens starts, in one of the two orders above. */
export class TokenWindowOrder {
  /** Windows in one shuffled epoch: floor(length / seqLen), at least 1. */
  readonly windowsPerEpoch: number;
  private readonly perms: EpochPermutations;

  constructor(readonly length: number, readonly seqLen: number, readonly order: WindowOrder, readonly seed: number) {
    this.windowsPerEpoch = Math.max(1, Math.floor(length / seqLen));
    this.perms = new EpochPermutations(this.windowsPerEpoch, [seed, 0x70f1]);
  }

  /** Where window w starts in the (circular) token stream. */
  start(w: number): number {
    if (this.order === "sequential") return w * this.seqLen;
    const n = this.windowsPerEpoch;
    return this.perms.at(Math.floor(w / n), w % n) * this.seqLen;
  }
}
