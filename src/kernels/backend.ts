/**
 * Backend selection. The native addon (C, built by node-gyp at install time) is used when it
 * loads; otherwise everything runs on the reference kernels, and we say so once.
 * LLAMA_TS_BACKEND=reference|native forces one.
 */
import os from "node:os";
import type { Backend } from "./types.js";
import { referenceKernels } from "./reference.js";
import { loadNativeBackend } from "./native.js";

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
    current.setThreads(os.availableParallelism());
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
