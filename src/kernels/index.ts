export type { Backend, FloatArray, KernelOps, OpName } from "./types.js";
export { getBackend, setBackend, referenceBackend, registerBackend, backendNames } from "./backend.js";
export { checked } from "./checked.js";
export { referenceOps, opChecks, OP_NAMES } from "./ops/index.js";
export * as optim from "./optim.js";
