/**
 * Streaming corpus readers. Each yields documents `{ text, source, id }` one at a time, so a
 * corpus never has to fit in memory:
 *
 * - plain text files and folders (recursively, in sorted order): one document per file, or
 *   one per blank-line-separated paragraph block (optionally grouped into chunks of at least
 *   `chunkChars` characters, which keeps context while giving the validation split and the
 *   de-duplication a finer grain than whole books);
 * - JSONL with a named string field (default "text"), gzip-compressed or not (detected by the
 *   gzip magic bytes, so `.jsonl.gz` and a mis-named file both work). A malformed line is
 *   reported as `file:line: ...`, counted and skipped: one bad line never stops a corpus;
 * - Parquet, one row group at a time, through `hyparquet`, run in a child process with a
 *   deadline per row group: a crafted file can make hyparquet's RLE/bit-packed decoder loop
 *   for billions of steps or grow an array until V8 aborts the whole process
 *   (docs/upstream/hyparquet-rle-hang.md). A child process can be stopped, and its crash is not
 *   ours (a worker thread would not survive V8's fatal error).
 *
 * Bounds against bad input: only regular files and folders are read (a FIFO or /dev/zero named
 * as a corpus is refused); a line longer than `maxLineChars` (default 64 Mi characters) is an
 * error rather than an ever-growing string; gzip input may expand to at most `maxGzipRatio` ×
 * its compressed size (default 200×, plus a 16 MiB allowance), which real text never reaches
 * (≈3-10×) but a gzip bomb (≈1000×) does.
 *
 * Why hyparquet: it is pure JavaScript with no dependencies (MIT, actively maintained),
 * reads only the requested column and row range from a file-backed buffer (so a large
 * file is streamed, not loaded), decodes Snappy itself and accepts other decompressors as
 * plain functions, which node:zlib provides for GZIP and BROTLI. The alternatives were
 * parquetjs (unmaintained), its fork @dsnp/parquetjs (many transitive dependencies) and
 * parquet-wasm (a large WebAssembly + Arrow bundle) for what is here a one-column read.
 */
import { createReadStream } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Transform, type Readable } from "node:stream";
import { fork } from "node:child_process";
import zlib from "node:zlib";
import { UserError } from "../util/errors.js";
import type { Document, WarningSink } from "./types.js";

export type SourceFormat = "text" | "jsonl" | "parquet";
export type SplitMode = "file" | "paragraphs";

export interface ReadOptions {
  /** JSONL / Parquet: the string field (column) that holds the text. Default "text". */
  field?: string;
  /** Text: one document per file (default) or per paragraph block. */
  split?: SplitMode;
  /** Text with split "paragraphs": join consecutive paragraphs until a chunk has at least this many characters. */
  chunkChars?: number;
  /** Where document ids are made relative to (default: the file's own folder). */
  root?: string;
  onWarning?: WarningSink;
  /** Counters the reader adds to (files, bytes, malformed records, skipped files). */
  stats?: ReadStats;
  /** Longest line (JSONL record, text line) accepted, in UTF-16 characters. Default 64 Mi. */
  maxLineChars?: number;
  /** gzip input may decompress to at most this × its compressed size (+ 16 MiB). Default 200. */
  maxGzipRatio?: number;
  /** Parquet: give up on a row group when the decoder makes no progress for this long. Default 60 s + 2 s per MiB of the row group. */
  parquetDeadlineMs?: number;
}

export const DEFAULT_MAX_LINE_CHARS = 64 << 20;
export const DEFAULT_MAX_GZIP_RATIO = 200;
const GZIP_ALLOWANCE_BYTES = 16 << 20;
/** A whole-file text document longer than this is refused (V8 strings top out near 512 Mi). */
const MAX_DOCUMENT_CHARS = 256 << 20;

export interface ReadStats {
  files: number;
  bytes: number;
  /** Malformed records: unparsable JSONL lines, records without the text field. */
  malformed: number;
  /** Files skipped as binary (text format). */
  skippedFiles: number;
}

export function newReadStats(): ReadStats {
  return { files: 0, bytes: 0, malformed: 0, skippedFiles: 0 };
}

/** File-name endings picked up from folders for each format (a file named explicitly is always read). */
export const DEFAULT_EXTENSIONS: Record<SourceFormat, string[] | null> = {
  text: null, // every non-hidden file; binary files are skipped with a warning
  jsonl: [".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz"],
  parquet: [".parquet"],
};

/**
 * Expands files and folders (recursively, skipping hidden entries) into a sorted list of
 * files. Sorting makes every run see the same order. Missing paths are a UserError.
 */
export async function listFiles(paths: readonly string[], opts: { extensions?: readonly string[] | null } = {}): Promise<string[]> {
  const exts = opts.extensions ?? null;
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && (exts === null || exts.some((x) => e.name.toLowerCase().endsWith(x.toLowerCase())))) out.push(p);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new UserError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) await walk(p);
    else if (st.isFile()) out.push(p);
    else throw new UserError(`${p}: not a regular file or folder (a FIFO, socket or device cannot be a corpus)`);
  }
  return out;
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

async function looksBinary(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(8192);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).includes(0);
  } finally {
    await fh.close();
  }
}

/**
 * A UTF-8 text stream of the file, gunzipped when it starts with the gzip magic bytes; the
 * gunzipped size is capped (see ReadOptions.maxGzipRatio).
 */
async function openText(file: string, opts: ReadOptions): Promise<Readable> {
  const gz = await isGzip(file);
  const raw = createReadStream(file);
  if (gz) {
    const gunzip = zlib.createGunzip();
    raw.on("error", (e) => gunzip.destroy(e));
    const ratio = opts.maxGzipRatio ?? DEFAULT_MAX_GZIP_RATIO;
    const limit = ratio * (await stat(file)).size + GZIP_ALLOWANCE_BYTES;
    let seen = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > limit) {
          done(new UserError(`${file}: decompresses to more than ${ratio}× its size (over ${limit} bytes): a gzip bomb, or unusually repetitive data; decompress it yourself if it is genuine`));
        } else done(null, chunk);
      },
    });
    gunzip.on("error", (e) => cap.destroy(e));
    return raw.pipe(gunzip).pipe(cap).setEncoding("utf8");
  }
  return raw.setEncoding("utf8");
}

/**
 * The lines of a text stream (split at \n, \r\n or \r, as node:readline does), in batches
 * (one per stream chunk, so a file of millions of empty lines costs one await per chunk, not per
 * line), each line at most `maxChars` characters; a longer line is a UserError (an unbounded
 * line would grow one string until memory runs out).
 */
async function* readLineBatches(stream: Readable, file: string, maxChars: number): AsyncGenerator<string[]> {
  let pending = "";
  let skipLf = false;
  const tooLong = (): never => {
    throw new UserError(`${file}: a line is longer than ${maxChars} characters; is this really line-oriented text (JSONL/text)?`);
  };
  const eol = /[\r\n]/g;
  for await (const chunk of stream) {
    let s = chunk as string;
    if (skipLf && s.startsWith("\n")) s = s.slice(1);
    skipLf = false;
    const batch: string[] = [];
    let start = 0;
    eol.lastIndex = 0;
    for (let m = eol.exec(s); m !== null; m = eol.exec(s)) {
      const i = m.index;
      const line = pending + s.slice(start, i);
      pending = "";
      if (line.length > maxChars) tooLong();
      batch.push(line);
      start = i + 1;
      if (s.charCodeAt(i) === 13) {
        if (i + 1 === s.length) skipLf = true;
        else if (s.charCodeAt(i + 1) === 10) start = i + 2;
        eol.lastIndex = start;
      }
    }
    pending += s.slice(start);
    if (pending.length > maxChars) tooLong();
    if (batch.length > 0) yield batch;
  }
  if (pending.length > 0) yield [pending];
}

function relId(file: string, root: string | undefined): string {
  return root ? path.relative(root, file) || path.basename(file) : path.basename(file);
}

function wrapStreamError(file: string, err: unknown): never {
  if (err instanceof UserError) throw err;
  const msg = err instanceof Error ? err.message : String(err);
  throw new UserError(`${file}: cannot read (${msg})`);
}

/** Reads one text file: one document, or paragraph blocks (see ReadOptions.split / chunkChars). */
export async function* readTextFile(file: string, opts: ReadOptions = {}): AsyncGenerator<Document> {
  const stats = opts.stats;
  const id = relId(file, opts.root);
  if (!(await isGzip(file)) && (await looksBinary(file))) {
    opts.onWarning?.(`${file}: looks binary (contains NUL bytes), skipped`);
    if (stats) stats.skippedFiles++;
    return;
  }
  if (stats) {
    stats.files++;
    stats.bytes += (await stat(file)).size;
  }
  const stream = await openText(file, opts);
  if ((opts.split ?? "file") === "file") {
    let text = "";
    try {
      for await (const chunk of stream) {
        text += chunk as string;
        if (text.length > MAX_DOCUMENT_CHARS) throw new UserError(`${file}: more than ${MAX_DOCUMENT_CHARS} characters in one document; read it with split "paragraphs"`);
      }
    } catch (e) {
      wrapStreamError(file, e);
    }
    yield { text, source: file, id };
    return;
  }
  const minChars = opts.chunkChars ?? 0;
  const batches = readLineBatches(stream, file, opts.maxLineChars ?? DEFAULT_MAX_LINE_CHARS);
  let para: string[] = [];
  let chunk = "";
  let n = 0;
  const flushPara = (): string | null => {
    if (para.length === 0) return null;
    const p = para.join("\n");
    para = [];
    chunk = chunk.length > 0 ? chunk + "\n\n" + p : p;
    if (chunk.length >= minChars) {
      const out = chunk;
      chunk = "";
      return out;
    }
    return null;
  };
  try {
    for await (const batch of batches) {
      for (const line of batch) {
        if (line.trim().length === 0) {
          const out = flushPara();
          if (out !== null) yield { text: out, source: file, id: `${id}#${n++}` };
        } else {
          para.push(line);
        }
      }
    }
  } catch (e) {
    wrapStreamError(file, e);
  }
  const out = flushPara();
  if (out !== null) yield { text: out, source: file, id: `${id}#${n++}` };
  if (chunk.length > 0) yield { text: chunk, source: file, id: `${id}#${n++}` };
}

/** Reads one JSONL file (optionally gzip-compressed); malformed lines are reported and skipped. */
export async function* readJsonl(file: string, opts: ReadOptions = {}): AsyncGenerator<Document> {
  const field = opts.field ?? "text";
  const stats = opts.stats;
  const id = relId(file, opts.root);
  if (stats) {
    stats.files++;
    stats.bytes += (await stat(file)).size;
  }
  const stream = await openText(file, opts);
  const batches = readLineBatches(stream, file, opts.maxLineChars ?? DEFAULT_MAX_LINE_CHARS);
  let lineNo = 0;
  try {
    for await (const batch of batches) for (const line of batch) {
      lineNo++;
      if (line.trim().length === 0) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        if (stats) stats.malformed++;
        opts.onWarning?.(`${file}:${lineNo}: malformed JSON (${e instanceof Error ? e.message : String(e)}), line skipped`);
        continue;
      }
      const text = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>)[field] : undefined;
      if (typeof text !== "string") {
        if (stats) stats.malformed++;
        opts.onWarning?.(`${file}:${lineNo}: no string field "${field}", line skipped`);
        continue;
      }
      yield { text, source: file, id: `${id}:${lineNo}` };
    }
  } catch (e) {
    wrapStreamError(file, e);
  }
}

/** Messages from the Parquet worker (parquet-worker.ts). */
export type ParquetWorkerMessage =
  | { type: "meta"; columns: string[]; groups: Array<{ rows: number; compressedBytes: number }>; byteLength: number }
  | { type: "rows"; texts: Array<string | null> }
  | { type: "error"; message: string; user: boolean };

/**
 * Reads the string column `field` of a Parquet file, one row group at a time. hyparquet runs in
 * a child process (parquet-worker.ts) that decodes one row group per request; when it sends
 * nothing within the deadline, or dies, it is killed and the file is reported as undecodable.
 */
export async function* readParquet(file: string, opts: ReadOptions = {}): AsyncGenerator<Document> {
  const field = opts.field ?? "text";
  const stats = opts.stats;
  const id = relId(file, opts.root);
  const worker = fork(fileURLToPath(new URL("./parquet-worker.js", import.meta.url)), [file, field], {
    serialization: "advanced",
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
  const inbox: ParquetWorkerMessage[] = [];
  let wake: (() => void) | undefined;
  let failure: unknown;
  worker.on("message", (m: ParquetWorkerMessage) => {
    inbox.push(m);
    wake?.();
  });
  worker.on("error", (e) => {
    failure = e;
    wake?.();
  });
  worker.on("exit", (code, signal) => {
    failure ??= new Error(`the Parquet decoder crashed (${signal ?? `exit code ${code}`}); the file is corrupt`);
    wake?.();
  });
  const next = async (deadlineMs: number, what: string): Promise<ParquetWorkerMessage> => {
    const t0 = Date.now();
    while (inbox.length === 0) {
      if (failure !== undefined) wrapStreamError(file, failure);
      const left = deadlineMs - (Date.now() - t0);
      if (left <= 0) {
        throw new UserError(`${file}: the Parquet decoder made no progress on ${what} for ${Math.round(deadlineMs / 1000)} s; the file is corrupt (hyparquet can loop forever on a malformed RLE/bit-packed run)`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    const m = inbox.shift()!;
    if (m.type === "error") throw m.user ? new UserError(m.message) : new UserError(`${file}: cannot read (${m.message})`);
    return m;
  };
  try {
    const meta = await next(opts.parquetDeadlineMs ?? 60_000, "the metadata");
    if (meta.type !== "meta") throw new Error("Parquet worker: expected metadata first");
    if (!meta.columns.includes(field)) {
      throw new UserError(`${file}: no column "${field}" (columns: ${meta.columns.join(", ")}); choose one with "field"`);
    }
    if (stats) {
      stats.files++;
      stats.bytes += meta.byteLength;
    }
    let rowStart = 0;
    for (const [g, group] of meta.groups.entries()) {
      worker.send({ group: g });
      const deadline = opts.parquetDeadlineMs ?? 60_000 + 2000 * (group.compressedBytes / 1048576);
      const m = await next(deadline, `row group ${g}`);
      if (m.type !== "rows") throw new Error("Parquet worker: expected rows");
      for (let i = 0; i < m.texts.length; i++) {
        const text = m.texts[i];
        if (typeof text !== "string") {
          if (stats) stats.malformed++;
          opts.onWarning?.(`${file}: row ${rowStart + i}: "${field}" is not a string, row skipped`);
          continue;
        }
        yield { text, source: file, id: `${id}#${rowStart + i}` };
      }
      rowStart += group.rows;
    }
  } finally {
    worker.removeAllListeners("exit");
    worker.kill("SIGKILL");
  }
}

/** Reads one file in the given format. */
export function readFile(file: string, format: SourceFormat, opts: ReadOptions = {}): AsyncGenerator<Document> {
  switch (format) {
    case "text":
      return readTextFile(file, opts);
    case "jsonl":
      return readJsonl(file, opts);
    case "parquet":
      return readParquet(file, opts);
  }
}

/** Reads every file under `paths` (files or folders) in the given format, in sorted order. */
export async function* readDocuments(
  paths: readonly string[],
  format: SourceFormat,
  opts: ReadOptions & { extensions?: readonly string[] | null } = {},
): AsyncGenerator<Document> {
  const files = await listFiles(paths, { extensions: opts.extensions === undefined ? DEFAULT_EXTENSIONS[format] : opts.extensions });
  for (const f of files) {
    const root = opts.root ?? sourceRoot(paths, f);
    yield* readFile(f, format, { ...opts, root });
  }
}

/** The folder ids are made relative to: the listed folder that holds `file`, else the file's own folder. */
export function sourceRoot(paths: readonly string[], file: string): string {
  for (const p of paths) {
    const rel = path.relative(p, file);
    if (rel === "") return path.dirname(p);
    if (!rel.startsWith("..") && !path.isAbsolute(rel)) return p;
  }
  return path.dirname(file);
}
