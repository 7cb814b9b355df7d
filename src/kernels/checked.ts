/**
 * Argument checking, written once for every backend: `checked(raw)` returns the backend with
 * every op preceded by its check spec (ops/<op>.ts), so a bad call throws a TypeError or
 * RangeError naming the backend, the op, the argument and what it needs ("native matmul: w has
 * 11 elements, needs n·k = 12") before the kernel reads or writes anything. `setThreads` is
 * checked too. Everything else `raw` has (own or inherited: a plain object or a class instance)
 * is forwarded to it, so its state stays in one place (`threads` after `setThreads`, ...).
 *
 * A backend author writes the raw ops only (the native addon, a WebAssembly module, ...) and
 * hands `checked(raw)` to the registry (backend.ts). Checks allocate nothing.
 */
import type { Backend, CheckSpecs, KernelOps, OpName } from "./types.js";
import { OP_NAMES, opChecks } from "./ops/index.js";

/** The check's error, relabelled with the backend's name. */
function relabel(backend: string, e: unknown): unknown {
  if (e instanceof TypeError) return new TypeError(`${backend} ${e.message}`);
  if (e instanceof RangeError) return new RangeError(`${backend} ${e.message}`);
  return e;
}

function guard<K extends OpName>(backend: string, run: KernelOps[K], check: CheckSpecs[K]): KernelOps[K] {
  type Args = Parameters<KernelOps[K]>;
  const f = run as (...args: Args) => ReturnType<KernelOps[K]>;
  const c = check as (...args: Args) => void;
  return ((...args: Args) => {
    try {
      c(...args);
    } catch (e) {
      throw relabel(backend, e);
    }
    return f(...args);
  }) as KernelOps[K];
}

/** Defines on `out` every property `raw` has (own or inherited): methods bound to raw, the rest read and written through. */
function forwardAll(out: object, raw: object): void {
  for (let o: object | null = raw; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Reflect.ownKeys(o)) {
      if (key === "constructor" || Object.prototype.hasOwnProperty.call(out, key)) continue;
      const d = Object.getOwnPropertyDescriptor(o, key)!;
      Object.defineProperty(out, key, typeof d.value === "function"
        ? { value: (d.value as (...a: unknown[]) => unknown).bind(raw), enumerable: true }
        : { get: () => Reflect.get(raw, key), set: (v: unknown) => Reflect.set(raw, key, v), enumerable: true });
    }
  }
}

export function checked<B extends Backend>(raw: B): B {
  const name = raw.name;
  const out: Record<string, unknown> = {};
  for (const op of OP_NAMES) {
    const run = raw[op];
    if (typeof run !== "function") throw new TypeError(`backend ${name} does not implement ${op}`);
    out[op] = guard(name, run.bind(raw) as never, opChecks[op] as never);
  }
  out.setThreads = (n: number): void => {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} setThreads: n must be an integer >= 1, got ${n}`);
    raw.setThreads(n);
  };
  forwardAll(out, raw);
  return out as unknown as B;
}
