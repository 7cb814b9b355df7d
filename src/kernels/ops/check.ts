/**
 * The argument checks every op's check spec is written with (ops/<op>.ts), applied to every
 * backend by `checked` (kernels/checked.ts) before a call reaches its kernel. A check throws a
 * TypeError (wrong kind of argument) or RangeError (bad size, array too short) whose message
 * starts with the op's name; `checked` prefixes the backend's name ("native matmul: ...").
 * Checks allocate nothing and read no array element (crossEntropy's targets excepted).
 *
 * Sizes are checked before arrays, so a bad size is reported as one rather than as a short array.
 */

/** A size argument: a non-negative safe integer. */
export function size(fn: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${fn}: ${name} must be a non-negative integer, got ${String(v)}`);
  }
}

function kind(a: unknown): string {
  return a === null ? "null" : typeof a === "object" ? (a as object).constructor.name : typeof a;
}

/**
 * An array argument: a Float32Array with at least `need` elements (`formula` spells the need in
 * the message). An array the call does not read needs 0 elements.
 */
export function data(fn: string, name: string, a: unknown, need: number, formula: string): void {
  if (!(a instanceof Float32Array)) throw new TypeError(`${fn}: ${name} must be a Float32Array, got ${kind(a)}`);
  if (a.length < need) throw new RangeError(`${fn}: ${name} has ${a.length} elements, needs ${formula} = ${need}`);
}

/** An Int32Array argument with at least `need` elements. */
export function ints(fn: string, name: string, a: unknown, need: number, formula: string): void {
  if (!(a instanceof Int32Array)) throw new TypeError(`${fn}: ${name} must be an Int32Array, got ${kind(a)}`);
  if (a.length < need) throw new RangeError(`${fn}: ${name} has ${a.length} elements, needs ${formula} = ${need}`);
}

export function bool(fn: string, name: string, v: unknown): void {
  if (typeof v !== "boolean") throw new TypeError(`${fn}: ${name} must be a boolean, got ${typeof v}`);
}

export function finite(fn: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new RangeError(`${fn}: ${name} must be a finite number, got ${String(v)}`);
}

/** Grouped-query attention: nHeads a multiple of a positive nKvHeads. */
export function heads(fn: string, nHeads: number, nKvHeads: number): void {
  if (nKvHeads === 0 || nHeads % nKvHeads !== 0) {
    throw new RangeError(`${fn}: nHeads (${nHeads}) must be a positive multiple of nKvHeads (${nKvHeads})`);
  }
}
