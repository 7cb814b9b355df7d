/**
 * A thread of the wasm backend (wasm.ts): instantiates the module on the shared memory it is
 * sent, moves its stack pointer to its own stack, sets up its TLS block, says "ready" and
 * enters the module's worker loop (native/wasm/runtime.c lt_wasm_worker), which never returns:
 * the thread then lives inside wasm, waiting for jobs with memory.atomic.wait32.
 *
 * As a module script of a Web Worker it starts on its first message; Node's worker_threads
 * entry is wasm-worker-node.ts. No Node imports here (bundled for browsers).
 */
import type { WasmWorkerInit } from "./wasm.js";

interface WorkerExports {
  __stack_pointer: WebAssembly.Global;
  __wasm_init_tls(p: number): void;
  lt_wasm_worker(tid: number): void;
}

/** Joins the backend's pool; `post` sends "ready" back before the loop starts. */
export function runWasmWorker(init: WasmWorkerInit, post: (msg: unknown) => void): void {
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const x = instance.exports as unknown as WorkerExports;
  x.__stack_pointer.value = init.stackTop;
  x.__wasm_init_tls(init.tls);
  post("ready");
  x.lt_wasm_worker(init.tid);
}

interface WorkerScope {
  onmessage: ((e: { data: WasmWorkerInit }) => void) | null;
  postMessage(msg: unknown): void;
}

// In a Web Worker (not in Node, where wasm-worker-node.ts drives runWasmWorker), start on the first message.
const scope = globalThis as unknown as Partial<WorkerScope> & { WorkerGlobalScope?: unknown };
if (scope.WorkerGlobalScope !== undefined && typeof scope.postMessage === "function") {
  const self = scope as WorkerScope;
  self.onmessage = (e) => {
    self.onmessage = null;
    runWasmWorker(e.data, (m) => self.postMessage(m));
  };
}
