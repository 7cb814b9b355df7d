/**
 * The one place the backend is chosen. Backends are registered by name with a loader:
 * "native" (C, built by node-gyp at install time) and "reference" (the TypeScript references,
 * always available) here; another (e.g. "wasm") registers itself with `registerBackend`.
 *
 * LLAMA_TS_BACKEND=<name> forces one (an unknown name is an error listing the registered ones,
 * a backend that fails to load is an error saying why). Unset, the first registered backend
 * marked `auto` that loads is used, in registration order; if none does, the reference, and we
 * say so once. LLAMA_TS_THREADS=N sets the threads of the chosen backend; without it the native
 * backend measures whether every core beats one thread on a decode-sized product (thread-count.ts).
 *
 * Every backend implements every op of the contract (types.ts); a loader returns it wrapped in
 * `checked` (checked.ts). No other module asks which backend it runs on. The browser bundle
 * replaces this module by src/browser/backend.ts (same exports; its chooseBackend picks wasm).
 */
import os from "node:os";
import type { Backend } from "./types.js";
import { checked } from "./checked.js";
import { referenceBackend } from "./reference-backend.js";
import { loadNativeBackend } from "./native.js";
import { calibrateThreads } from "./thread-count.js";
import { loadWasmBackend } from "./wasm-node.js";
import { UserError } from "../util/errors.js";

/** A loader's answer: the backend, or a short reason it is unavailable. */
export interface BackendLoad {
  backend?: Backend;
  error?: string;
}

interface Entry {
  load: () => BackendLoad;
  /** Tried, in registration order, when LLAMA_TS_BACKEND is unset. */
  auto: boolean;
  /** Appended to the error when LLAMA_TS_BACKEND forces it and it does not load. */
  hint?: string;
}

const registry = new Map<string, Entry>();

/**
 * Registers a backend under `name` (what LLAMA_TS_BACKEND selects). `load` is called at most
 * once per choice and returns `{ backend: checked(raw) }` or `{ error }`. `auto` backends are
 * tried, in registration order, when no backend is forced.
 */
export function registerBackend(name: string, load: () => BackendLoad, opts: { auto?: boolean; hint?: string } = {}): void {
  registry.set(name, { load, auto: opts.auto ?? false, hint: opts.hint });
}

/** The registered backends' names, in registration order. */
export function backendNames(): string[] {
  return [...registry.keys()];
}

export { referenceBackend };

/** The native addon; unless LLAMA_TS_THREADS says otherwise, its thread count is measured (thread-count.ts). */
function loadNativeMeasured(): BackendLoad {
  const r = loadNativeBackend();
  if (r.backend && threadsFromEnv() === undefined) calibrateThreads(r.backend, os.availableParallelism());
  return r;
}

registerBackend("native", loadNativeMeasured, {
  auto: true,
  hint: 'Rebuild it with "npm rebuild llama-ts" (needs g++, make and python3).',
});
registerBackend("reference", () => ({ backend: referenceBackend() }));
// The same C kernels compiled to WebAssembly (kernels/wasm.ts), on worker_threads.
registerBackend("wasm", () => {
  try {
    return { backend: checked(loadWasmBackend(threadsFromEnv() ?? 1)) };
  } catch (e) {
    return { error: (e as Error).message };
  }
});

let current: Backend | undefined;
let noticeShown = false;

function notice(line: string): void {
  if (noticeShown) return;
  noticeShown = true;
  process.stderr.write(`llama-ts: ${line}\n`);
}

/** LLAMA_TS_THREADS if set, else undefined (then the native backend measures: calibrateThreads). */
function threadsFromEnv(): number | undefined {
  const env = process.env.LLAMA_TS_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`LLAMA_TS_THREADS must be a positive integer, got "${env}"`);
    return n;
  }
  return undefined;
}

function choose(): Backend {
  const forced = process.env.LLAMA_TS_BACKEND;
  if (forced !== undefined && forced !== "") {
    const entry = registry.get(forced);
    if (!entry) throw new UserError(`LLAMA_TS_BACKEND must be one of ${backendNames().map((n) => `"${n}"`).join(", ")}, got "${forced}"`);
    const r = entry.load();
    if (r.backend) return r.backend;
    throw new UserError(`LLAMA_TS_BACKEND=${forced}, but the ${forced} backend could not be loaded: ${r.error}.${entry.hint ? ` ${entry.hint}` : ""}`);
  }
  const reasons: string[] = [];
  for (const [name, entry] of registry) {
    if (!entry.auto) continue;
    const r = entry.load();
    if (r.backend) return r.backend;
    reasons.push(`${name} backend unavailable (${r.error})`);
  }
  notice(`${reasons.join("; ")}; using the slow reference kernels`);
  return referenceBackend();
}

/** The process-wide backend, chosen on first use. */
export function getBackend(): Backend {
  if (current) return current;
  current = choose();
  const n = threadsFromEnv();
  if (n !== undefined) current.setThreads(n);
  return current;
}

/** Replace the process-wide backend (tests and benchmarks compare backends this way). */
export function setBackend(backend: Backend): void {
  current = backend;
}
