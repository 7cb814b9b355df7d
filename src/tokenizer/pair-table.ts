/**
 * An open-addressing hash table from a pair of non-negative int32s to an int32 value, in
 * typed arrays (no per-entry objects, no string keys). Used for BPE merge lookup
 * (left id, right id) -> merged id and for the set of adjacent code points inside pieces.
 */
export class PairTable {
  private keysA: Int32Array;
  private keysB: Int32Array;
  private values: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.keysA = new Int32Array(cap).fill(-1);
    this.keysB = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    return h ^ (h >>> 13);
  }

  /** The value stored for (a, b), or -1. */
  get(a: number, b: number): number {
    const keysA = this.keysA;
    const mask = this.mask;
    let i = PairTable.hash(a, b) & mask;
    for (;;) {
      const ka = keysA[i]!;
      if (ka === -1) return -1;
      if (ka === a && this.keysB[i] === b) return this.values[i]!;
      i = (i + 1) & mask;
    }
  }

  set(a: number, b: number, value: number): void {
    if ((this.count + 1) * 2 > this.keysA.length) this.grow();
    const mask = this.mask;
    let i = PairTable.hash(a, b) & mask;
    for (;;) {
      const ka = this.keysA[i]!;
      if (ka === -1) {
        this.keysA[i] = a;
        this.keysB[i] = b;
        this.values[i] = value;
        this.count++;
        return;
      }
      if (ka === a && this.keysB[i] === b) {
        this.values[i] = value;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldA = this.keysA;
    const oldB = this.keysB;
    const oldV = this.values;
    const cap = oldA.length * 2;
    this.keysA = new Int32Array(cap).fill(-1);
    this.keysB = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < oldA.length; i++) if (oldA[i] !== -1) this.set(oldA[i]!, oldB[i]!, oldV[i]!);
  }
}
