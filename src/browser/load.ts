/**
 * `loadModel` in a browser: the same LanguageModel as in Node, from bytes instead of paths.
 *
 *   await loadModel("/models/stories260K.gguf")          a URL (fetched)
 *   await loadModel(file)                                 a File / Blob / ArrayBuffer / Uint8Array of a .gguf
 *   await loadModel([...folderFiles])                     the files of a Hugging Face folder
 *
 * The bytes are read whole into memory (a page has no positioned file reads that are
 * synchronous), parsed by the same format readers the Node loader uses, and assembled by the
 * same core (runtime/language-model.ts).
 */
import type { Backend } from "../kernels/types.js";
import { ggufFromBytes } from "../formats/gguf.js";
import { assembleLanguageModel, ggufModelParts, modelIdFromBaseName, type LanguageModel, type ModelParts } from "../runtime/language-model.js";
import { UserError } from "../util/errors.js";
import { chooseBackend, initBackend, type BackendPreference } from "./backend.js";

/** What a page can hand to `loadModel`. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array | Blob | readonly Blob[] | FileList;

export interface BrowserLoadModelOptions {
  /** Kernels to run on, or a backend to choose for this model; default: the page's (chosen once by `initBackend`). */
  backend?: Backend | BackendPreference;
  /** Threads for the page's backend when it is chosen now. */
  threads?: number;
  /** The model's name when the source has none (an ArrayBuffer); default "model". */
  name?: string;
  /** Called as bytes arrive from a URL (total 0 when the server sends no length). */
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
}

/** A named blob of bytes, before parsing. */
interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** Opens a model from a URL, bytes, a Blob/File, or the files of an HF folder (see the module comment). */
export async function loadModel(source: ModelSource, opts: BrowserLoadModelOptions = {}): Promise<LanguageModel> {
  const backend = typeof opts.backend === "object"
    ? opts.backend
    : opts.backend === undefined
      ? await initBackend({ threads: opts.threads }) // the page's backend, chosen once
      : await chooseBackend({ backend: opts.backend, threads: opts.threads });
  const files = await readSource(source, opts);
  const parts = partsFromFiles(files);
  return assembleLanguageModel(parts, backend);
}

/** The parts of a model from its files' bytes: one .gguf, or an HF folder's files. */
export function partsFromFiles(files: readonly NamedBytes[]): ModelParts {
  if (files.length === 1 && isGguf(files[0]!)) {
    const { name, bytes } = files[0]!;
    const f = ggufFromBytes(bytes, name);
    try {
      return ggufModelParts(f, modelIdFromBaseName(name));
    } finally {
      f.close();
    }
  }
  const names = files.map((f) => f.name).join(", ");
  throw new UserError(`${names}: not a GGUF file (give a .gguf file, or the files of a Hugging Face model folder)`);
}

function isGguf(f: NamedBytes): boolean {
  const b = f.bytes;
  return b.length >= 4 && b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46; // "GGUF"
}

async function readSource(source: ModelSource, opts: BrowserLoadModelOptions): Promise<NamedBytes[]> {
  if (typeof source === "string" || source instanceof URL) return [await fetchBytes(String(source), opts)];
  if (source instanceof ArrayBuffer) return [{ name: opts.name ?? "model", bytes: new Uint8Array(source) }];
  if (source instanceof Uint8Array) return [{ name: opts.name ?? "model", bytes: source }];
  if (source instanceof Blob) return [await blobBytes(source, opts.name)];
  return Promise.all(Array.from(source as ArrayLike<Blob>, (b) => blobBytes(b)));
}

async function blobBytes(b: Blob, name?: string): Promise<NamedBytes> {
  const fileName = name ?? ((b as { name?: unknown }).name as string | undefined) ?? "model";
  return { name: fileName, bytes: new Uint8Array(await b.arrayBuffer()) };
}

/** Fetches a URL whole, reporting progress; an HTTP error is a UserError naming the URL. */
async function fetchBytes(url: string, opts: BrowserLoadModelOptions): Promise<NamedBytes> {
  const res = await fetch(url, { signal: opts.signal });
  if (!res.ok) throw new UserError(`${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get("content-length") ?? 0);
  const name = opts.name ?? decodeURIComponent(new URL(url, globalThis.location?.href).pathname.split("/").pop() || "model");
  if (!res.body || !opts.onProgress) return { name, bytes: new Uint8Array(await res.arrayBuffer()) };
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    opts.onProgress(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  return { name, bytes };
}
