/**
 * The browser's kernel backend: the twin of src/kernels/backend.ts (same exports), which
 * scripts/build-browser.mjs substitutes for it in the bundle (that one loads the native addon
 * and reads process.env; neither exists in a page).
 *
 * The choice is made in ONE place, `chooseBackend`: today the TypeScript reference kernels;
 * the WebAssembly backend (src/kernels/wasm.ts: `createWasmBackend({ wasm, threads,
 * workerFactory })`) plugs in there, with threads when the page is cross-origin isolated
 * (`crossOriginIsolated`: SharedArrayBuffer available) and one thread otherwise.
 */
import type { Backend } from "../kernels/types.js";
import { referenceBackend } from "../kernels/reference-backend.js";

export { referenceBackend };

/** What a page may ask for; "auto" takes the fastest backend this page can run. */
export type BackendPreference = "auto" | "reference";

export interface BackendOptions {
  backend?: BackendPreference;
  /** Worker threads for a threaded backend (default: navigator.hardwareConcurrency). */
  threads?: number;
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
  return referenceBackend();
}

/** Chooses the backend once (later calls return the same one) and makes it current. */
export function initBackend(opts: BackendOptions = {}): Promise<Backend> {
  chosen ??= chooseBackend(opts).then((b) => {
    current = b;
    return b;
  });
  return chosen;
}
