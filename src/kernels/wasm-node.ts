/**
 * The wasm backend in Node: reads the committed wasm/llama_ts.wasm (scripts/build-wasm.mjs) and
 * runs its threads on worker_threads (wasm-worker-node.ts). LLAMA_TS_BACKEND=wasm selects it.
 */
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { instantiateWasmBackend, type WasmBackend, type WasmWorkerFactory } from "./wasm.js";

/** wasm/llama_ts.wasm (or another file of wasm/) of this package (from dist/src/kernels or src/kernels). */
export function wasmModulePath(file = "llama_ts.wasm"): string {
  for (const rel of [`../../../wasm/${file}`, `../../wasm/${file}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`wasm/${file} not found next to the llama-ts package`);
}

/** Worker threads that do not keep the process alive. */
export const nodeWorkerFactory: WasmWorkerFactory = (onMessage) => {
  const w = new Worker(new URL("./wasm-worker-node.js", import.meta.url));
  w.on("message", onMessage);
  w.unref(); // after the listener, which would ref it again
  return w;
};

let compiled: WebAssembly.Module | undefined;

/**
 * A new wasm backend (its own memory and workers) with `threads` threads; the module is compiled
 * once per process. Workers come online asynchronously: `await backend.ready()` before timing.
 */
export function loadWasmBackend(threads = 1): WasmBackend {
  compiled ??= new WebAssembly.Module(readFileSync(wasmModulePath()));
  return instantiateWasmBackend(compiled, { threads, workerFactory: nodeWorkerFactory });
}
