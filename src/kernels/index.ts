export type { Backend, FloatArray, Kernels } from "./types.js";
export { getBackend, setBackend, referenceBackend } from "./backend.js";
export { referenceKernels } from "./reference.js";
