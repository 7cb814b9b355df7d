/**
 * Small deterministic building blocks for the data pipeline: counter-based 32-bit hashing
 * (so a random choice is a pure function of (seed, counter) and a resumed run needs no RNG
 * state), a bounded-memory set of 64-bit hash prefixes for exact de-duplication, and a
 * seeded bijection on [0, n) (a Feistel network with cycle walking) that shuffles windows
 * without materialising a permutation.
 */
import { createHash } from "node:crypto";
import { fmix32 } from "./order.js";

export { FeistelPermutation, fmix32, hashInts, uniformFrom } from "./order.js";

/** SHA-1 of a string (node:crypto; fast and more than enough for exact de-duplication). */
export function digest(text: string): Buffer {
  return createHash("sha1").update(text, "utf8").digest();
}

/**
 * A set of 64-bit keys (the first 8 bytes of a digest) in two Uint32Arrays with open
 * addressing: 16 bytes per entry at most, instead of ~100 for a Set of strings or bigints.
 * With 64 bits the chance of a false duplicate among 10^9 documents is below 3 %.
 */
export class Hash64Set {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private count = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
  }

  get size(): number {
    return this.count;
  }

  /** Adds the key taken from bytes [offset, offset + 8) of `d`; returns false if it was there. */
  addDigest(d: Uint8Array, offset = 0): boolean {
    const hi = ((d[offset]! << 24) | (d[offset + 1]! << 16) | (d[offset + 2]! << 8) | d[offset + 3]!) >>> 0;
    let lo = ((d[offset + 4]! << 24) | (d[offset + 5]! << 16) | (d[offset + 6]! << 8) | d[offset + 7]!) >>> 0;
    if (hi === 0 && lo === 0) lo = 1; // (0, 0) marks an empty slot
    return this.add(hi, lo);
  }

  private add(hi: number, lo: number): boolean {
    if ((this.count + 1) * 2 > this.hi.length) this.grow();
    const mask = this.hi.length - 1;
    let i = fmix32(lo ^ hi) & mask;
    for (;;) {
      const h = this.hi[i]!;
      const l = this.lo[i]!;
      if (h === 0 && l === 0) {
        this.hi[i] = hi;
        this.lo[i] = lo;
        this.count++;
        return true;
      }
      if (h === hi && l === lo) return false;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldHi = this.hi;
    const oldLo = this.lo;
    this.hi = new Uint32Array(oldHi.length * 2);
    this.lo = new Uint32Array(oldLo.length * 2);
    this.count = 0;
    for (let i = 0; i < oldHi.length; i++) {
      if (oldHi[i] !== 0 || oldLo[i] !== 0) this.add(oldHi[i]!, oldLo[i]!);
    }
  }
}
