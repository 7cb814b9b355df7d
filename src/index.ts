/** llama-ts public API. */
export * from "./kernels/index.js";
export { UserError } from "./util/errors.js";
