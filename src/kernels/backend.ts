/**
 * Backend selection. The native addon (C, built by node-gyp at install time) is used when it
 * loads; otherwise everything runs on the reference kernels, and we say so once.
 * LLAMA_TS_BACKEND=reference|native forces one; LLAMA_TS_THREADS=N sets the native threads,
 * which are otherwise measured when the native backend starts: every core if that is clearly
 * faster than one thread on a decode-sized product, else 1 (thread-count.ts).
 */
import os from "node:os";
import type { Backend } from "./types.js";
import { referenceKernels } from "./reference.js";
import { loadNativeBackend } from "./native.js";
import { calibrateThreads } from "./thread-count.js";

export function referenceBackend(): Backend {
  return {
    name: "reference",
    threads: 1,
    setThreads() { /* the reference backend is single-threaded */ },
    ...referenceKernels,
  };
}

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
    if (!Number.isInteger(n) || n < 1) throw new Error(`LLAMA_TS_THREADS must be a positive integer, got "${env}"`);
    return n;
  }
  return undefined;
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
    const backend = native.backend;
    current = backend;
    const n = threadsFromEnv();
    if (n !== undefined) backend.setThreads(n);
    else calibrateThreads(backend, os.availableParallelism());
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
