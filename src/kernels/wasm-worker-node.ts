/** The worker_threads entry of the wasm backend's threads (see wasm-worker.ts). */
import { parentPort } from "node:worker_threads";
import type { WasmWorkerInit } from "./wasm.js";
import { runWasmWorker } from "./wasm-worker.js";

const port = parentPort;
if (port) port.once("message", (init: WasmWorkerInit) => runWasmWorker(init, (m) => port.postMessage(m)));
