/**
 * The browser's kernel backend: the twin of src/kernels/backend.ts (same exports), which
 * scripts/build-browser.mjs substitutes for it in the bundle (that one loads the native addon
 * and reads process.env; neither exists in a page).
 *
 * The choice is made in ONE place, `chooseBackend`: "auto" (the default) is the WebAssembly
 * backend (src/kernels/wasm.ts: the native C kernels compiled to wasm32 + SIMD128), with Web
 * Worker threads when the page is cross-origin isolated (`crossOriginIsolated`: shared memory)
 * and the single-thread build otherwise; if the .wasm cannot be fetched or instantiated, the
 * TypeScript reference kernels (with a console warning). "wasm" insists on it; "reference" takes
 * the references. The .wasm files are fetched from `wasmBase` (default: the package's `wasm/`
 * folder beside `dist/browser/`, which is also where `llama-ts web` serves them: /wasm/), and the
 * workers run `llama-ts-worker.js`, built beside the bundle.
 */
import type { Backend } from "../kernels/types.js";
import { referenceBackend } from "../kernels/reference-backend.js";
import { checked } from "../kernels/checked.js";
import { createWasmBackend } from "../kernels/wasm.js";

export { referenceBackend };

/** What a page may ask for; "auto" takes the fastest backend this page can run. */
export type BackendPreference = "auto" | "wasm" | "reference";

export interface BackendOptions {
  backend?: BackendPreference;
  /** Worker threads for a threaded backend (default: navigator.hardwareConcurrency). */
  threads?: number;
  /** Where wasm/llama_ts.wasm and llama_ts_st.wasm are (default: ../../wasm/ from the bundle). */
  wasmBase?: string | URL;
}

async function fetchBytes(url: URL): Promise<ArrayBuffer> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url.href}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

/** The WebAssembly backend with `threads` Web Workers (threads only when the page is isolated). */
async function wasmBackend(opts: BackendOptions): Promise<Backend> {
  const base = new URL(opts.wasmBase ?? "../../wasm/", import.meta.url);
  const isolated = canUseThreads();
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const threads = isolated ? Math.max(1, opts.threads ?? nav?.hardwareConcurrency ?? 1) : 1;
  const workerUrl = new URL("./llama-ts-worker.js", import.meta.url);
  const be = await createWasmBackend({
    // Shared memory (threads) only in an isolated page; elsewhere the single-thread build.
    wasm: await fetchBytes(new URL(isolated ? "llama_ts.wasm" : "llama_ts_st.wasm", base)),
    threads,
    workerFactory: (onMessage) => {
      const w = new Worker(workerUrl, { type: "module" });
      w.onmessage = (e: MessageEvent) => onMessage(e.data);
      return w;
    },
  });
  await be.ready();
  return checked<Backend>(be);
}

let current: Backend | undefined;
let chosen: Promise<Backend> | undefined;

/** The backend in use; the reference kernels until `initBackend` has chosen one. */
export function getBackend(): Backend {
  current ??= referenceBackend();
  return current;
}

/** Replace the backend (tests, or a page that built its own). */
export function setBackend(backend: Backend): void {
  current = backend;
  chosen = Promise.resolve(backend);
}

/** Whether this page may use SharedArrayBuffer (served with COOP/COEP), hence threads. */
export function canUseThreads(): boolean {
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

/** The one backend choice (see the module comment). */
export async function chooseBackend(opts: BackendOptions = {}): Promise<Backend> {
  const want = opts.backend ?? "auto";
  if (want === "reference") return referenceBackend();
  try {
    return await wasmBackend(opts);
  } catch (e) {
    if (want === "wasm") throw e;
    console.warn(`llama-ts: WebAssembly backend unavailable (${(e as Error).message}); using the slower reference kernels`);
    return referenceBackend();
  }
}

/** Chooses the backend once (later calls return the same one) and makes it current. */
export function initBackend(opts: BackendOptions = {}): Promise<Backend> {
  chosen ??= chooseBackend(opts).then((b) => {
    current = b;
    return b;
  });
  return chosen;
}
