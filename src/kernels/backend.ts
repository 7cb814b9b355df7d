/**
 * Backend selection. The native addon (C, built by node-gyp at install time) is used when it
 * loads; otherwise everything runs on the reference kernels, and we say so once.
 * LLAMA_TS_BACKEND=reference|native forces one; LLAMA_TS_THREADS=N sets the native threads.
 * The browser bundle replaces this module by src/browser/backend.ts (same exports).
 */
import os from "node:os";
import type { Backend } from "./types.js";
import { loadNativeBackend } from "./native.js";
import { referenceBackend } from "./reference-backend.js";

export { referenceBackend };

let current: Backend | undefined;
let noticeShown = false;

function notice(line: string): void {
  if (noticeShown) return;
  noticeShown = true;
  process.stderr.write(`llama-ts: ${line}\n`);
}

/** LLAMA_TS_THREADS if set, else every core. */
function defaultThreads(): number {
  const env = process.env.LLAMA_TS_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`LLAMA_TS_THREADS must be a positive integer, got "${env}"`);
    return n;
  }
  return os.availableParallelism();
}

/** The process-wide backend, chosen on first use. */
export function getBackend(): Backend {
  if (current) return current;
  const forced = process.env.LLAMA_TS_BACKEND;
  if (forced !== undefined && forced !== "" && forced !== "native" && forced !== "reference") {
    throw new Error(`LLAMA_TS_BACKEND must be "native" or "reference", got "${forced}"`);
  }
  if (forced === "reference") {
    current = referenceBackend();
    return current;
  }
  const native = loadNativeBackend();
  if (native.backend) {
    current = native.backend;
    current.setThreads(defaultThreads());
    return current;
  }
  if (forced === "native") {
    throw new Error(`LLAMA_TS_BACKEND=native, but the native addon could not be loaded: ${native.error}. Rebuild it with "npm rebuild llama-ts" (needs g++, make and python3).`);
  }
  notice(`native backend unavailable (${native.error}); using the slow reference kernels`);
  current = referenceBackend();
  return current;
}

/** Replace the process-wide backend (tests and benchmarks compare backends this way). */
export function setBackend(backend: Backend): void {
  current = backend;
}
