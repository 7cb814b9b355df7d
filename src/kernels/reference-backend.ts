/** The reference kernels (plain TypeScript, single-threaded) as a Backend: every runtime has it. */
import type { Backend } from "./types.js";
import { referenceKernels } from "./reference.js";

export function referenceBackend(): Backend {
  return {
    name: "reference",
    threads: 1,
    setThreads() { /* the reference backend is single-threaded */ },
    ...referenceKernels,
  };
}
