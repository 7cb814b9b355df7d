/** The reference kernels (plain TypeScript, single-threaded) as a Backend: every runtime has it. */
import type { Backend } from "./types.js";
import { referenceOps } from "./ops/index.js";
import { checked } from "./checked.js";

export function referenceBackend(): Backend {
  return checked<Backend>({
    name: "reference",
    threads: 1,
    setThreads() { /* the reference backend is single-threaded */ },
    ...referenceOps<Float32Array>(),
  });
}
