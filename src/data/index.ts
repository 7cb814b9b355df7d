/** The data pipeline: corpora -> cleaned, de-duplicated, tokenised shards + mixture -> training windows. */
export * from "./types.js";
export * from "./readers.js";
export * from "./clean.js";
export * from "./mixture.js";
export * from "./shards.js";
export * from "./prepare.js";
export * from "./sampler.js";
export * from "./bundled.js";
export { FeistelPermutation, Hash64Set } from "./hash.js";
