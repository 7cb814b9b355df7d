/**
 * The browser twin of src/util/files.ts (scripts/build-browser.mjs substitutes it in the
 * bundle): a page has no file system, so every function that takes a path says so. Pages pass
 * bytes (ArrayBuffer, Blob, File, URL) to `loadModel` and the `*FromBytes` / `fromSource`
 * parsers instead. The names are those of util/files.ts that the bundle reaches; the type
 * check below keeps their signatures equal.
 */
import type * as NodeFiles from "../util/files.js";
import type { ByteSource } from "../util/byte-source.js";
import { UserError } from "../util/errors.js";

export { MAX_TOKENIZER_BYTES } from "../util/byte-source.js";
export type { ReadLimits, WriteFn } from "../util/files.js";

function noFiles(file: string): never {
  throw new UserError(`${file}: a browser has no file system; pass the file's bytes (ArrayBuffer, Blob, File or URL) instead of a path`);
}

export const fileSource: typeof NodeFiles.fileSource = (file: string): ByteSource => noFiles(file);
export const readRegularFile: typeof NodeFiles.readRegularFile = (file: string) => noFiles(file);
export const readRegularText: typeof NodeFiles.readRegularText = (file: string) => noFiles(file);
export const writeFileAtomicWith: typeof NodeFiles.writeFileAtomicWith = (file: string) => noFiles(file);
