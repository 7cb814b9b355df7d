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
import { configFromJsonText, paramsFromSafetensors } from "../formats/hf-params.js";
import {
  INDEX_FILE_NAME, SINGLE_FILE_NAME, missingShardProblem, parseSafetensorsIndex, safetensorsFromSource, setFromShards, setOfOne,
  type SafetensorsFile, type SafetensorsSet,
} from "../formats/safetensors-read.js";
import { SentencePieceTokenizer } from "../tokenizer/tokenizer.js";
import { HfTokenizer } from "../tokenizer/hf-json.js";
import { parseTokenizerConfig } from "../tokenizer/tokenizer-config.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { bytesSource, utf8Decoder } from "../util/byte-source.js";
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
export interface NamedBytes {
  /** The file's base name. */
  name: string;
  /** Its path inside a picked folder (File.webkitRelativePath), when it has one. */
  relativePath?: string;
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
  if (files.some((f) => f.name === "config.json")) return hfFolderParts(files);
  const names = files.map((f) => f.name).join(", ");
  throw new UserError(`${names}: neither a GGUF file nor a Hugging Face model folder (config.json + *.safetensors + tokenizer); give a .gguf file or the folder's files`);
}

/**
 * A Hugging Face folder from its files, as the Node loader reads one (runtime/load.ts):
 * config.json; model.safetensors, else the shards of model.safetensors.index.json, else the
 * only *.safetensors file; tokenizer.model when it is a SentencePiece model, else
 * tokenizer.json (with tokenizer_config.json's bos/eos); chat_template.jinja, else
 * tokenizer_config.json's chat_template.
 */
function hfFolderParts(files: readonly NamedBytes[]): ModelParts {
  const byName = new Map(files.map((f) => [f.name, f]));
  const folder = files.find((f) => f.relativePath?.includes("/"))?.relativePath!.split("/")[0] ?? "model";
  const text = (f: NamedBytes): string => utf8Decoder.decode(f.bytes);
  const config = configFromJsonText(text(byName.get("config.json")!), `${folder}/config.json`);
  const open = (name: string): SafetensorsFile => {
    const f = byName.get(name);
    if (!f) throw new UserError(`${folder}: ${name} is missing`);
    return safetensorsFromSource(bytesSource(f.bytes, `${folder}/${name}`));
  };
  let set: SafetensorsSet;
  const index = byName.get(INDEX_FILE_NAME);
  if (byName.has(SINGLE_FILE_NAME)) set = setOfOne(folder, open(SINGLE_FILE_NAME));
  else if (index) {
    const indexName = `${folder}/${INDEX_FILE_NAME}`;
    const byShard = parseSafetensorsIndex(text(index), indexName);
    for (const [shard, names] of byShard) if (!byName.has(shard)) throw new UserError(`${indexName}: ${missingShardProblem(shard, names, `the files given`)}`);
    set = setFromShards(folder, byShard, open, indexName);
  } else {
    const candidates = files.filter((f) => f.name.endsWith(".safetensors"));
    if (candidates.length !== 1) {
      throw new UserError(`${folder}: ${candidates.length === 0 ? "no model weights" : `${candidates.length} *.safetensors files and no index`}: expected ${SINGLE_FILE_NAME}, ${INDEX_FILE_NAME} with its shards, or a single *.safetensors file`);
    }
    set = setOfOne(folder, open(candidates[0]!.name));
  }
  let weights: Float32Array;
  try {
    weights = paramsFromSafetensors(config, set, folder, `${folder}/config.json`);
  } finally {
    set.close();
  }
  const tcFile = byName.get("tokenizer_config.json");
  const tokConfig = tcFile ? parseTokenizerConfig(text(tcFile), `${folder}/tokenizer_config.json`) : undefined;
  const { tokenizer, source } = folderTokenizer(byName, folder, tokConfig?.bosToken, tokConfig?.eosToken);
  const jinja = byName.get("chat_template.jinja");
  return {
    name: folder,
    path: folder,
    format: "hf",
    config,
    weights,
    tokenizer,
    tokenizerSource: source,
    chatTemplate: jinja ? text(jinja) : tokConfig?.chatTemplate,
  };
}

/** tokenizer.model when it parses as SentencePiece, else tokenizer.json (tokenizer/load.ts's rule). */
function folderTokenizer(byName: ReadonlyMap<string, NamedBytes>, folder: string, bosToken?: string, eosToken?: string): { tokenizer?: Tokenizer; source?: string } {
  const model = byName.get("tokenizer.model");
  const json = byName.get("tokenizer.json");
  if (model) {
    try {
      return { tokenizer: SentencePieceTokenizer.fromBytes(model.bytes, `${folder}/tokenizer.model`), source: `${folder}/tokenizer.model` };
    } catch (e) {
      if (!(e instanceof UserError) || !json) throw e; // not SentencePiece (e.g. tiktoken): use tokenizer.json
    }
  }
  if (json) {
    const name = `${folder}/tokenizer.json`;
    return { tokenizer: HfTokenizer.fromJson(utf8Decoder.decode(json.bytes), { name, bosToken, eosToken }), source: name };
  }
  return {};
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
  const file = b as Partial<File>;
  const fileName = name ?? file.name ?? "model";
  const relativePath = file.webkitRelativePath || undefined;
  return { name: fileName, relativePath, bytes: new Uint8Array(await b.arrayBuffer()) };
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
