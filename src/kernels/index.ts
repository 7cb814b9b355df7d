export type { Backend, FloatArray, Kernels } from "./types.js";
export { getBackend, setBackend, referenceBackend } from "./backend.js";
export { referenceKernels } from "./reference.js";
export * as backwardKernels from "./backward-reference.js";
export * as attentionTrain from "./attention-train.js";
export * as optim from "./optim.js";
