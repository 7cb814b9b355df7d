/**
 * File access for everything that reads or writes user files (model, tokenizer and corpus
 * readers; model writers), so that the same rules hold everywhere:
 *
 * - only regular files are read: a directory, FIFO, socket or device (`/dev/zero`) is refused
 *   before it is opened (opening a FIFO blocks; reading `/dev/zero` never ends);
 * - a whole-file read is bounded: the size is checked against `maxBytes` before allocating;
 * - a path named inside a folder (a shard, a tokenizer) must resolve, symlinks followed, to a
 *   file inside that folder (`resolveInside`);
 * - writes are atomic (PATH.tmp-<pid>, then rename) and a file-system failure (read-only
 *   folder, full disk, missing parent) is one UserError naming the file, with the temporary
 *   file removed;
 * - an existing output is never replaced unless the caller says so (`refuseExisting`).
 *
 * Node only: the browser bundle replaces this module by src/browser/files.ts, whose functions
 * say that a page reads bytes, not paths.
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "./errors.js";
import { MAX_TOKENIZER_BYTES, type ByteSource } from "./byte-source.js";

export { MAX_TOKENIZER_BYTES };

/** Describes a Node file-system error briefly ("no such file", "no space left on the device"...). */
export function fsProblem(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file or folder";
    case "EISDIR":
      return "is a directory, not a file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOTDIR":
      return "a parent of this path is not a directory";
    case "ENOSPC":
      return "no space left on the device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EFBIG":
      return "file too large for this file system (or the process's file size limit)";
    case "ELOOP":
      return "too many levels of symbolic links";
    case "ENAMETOOLONG":
      return "file name too long";
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

export function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Stats `file` (following symlinks) and throws a UserError unless it is a regular file.
 * `what` names the file's role in messages ("tokenizer", "GGUF file").
 */
export function statRegularFile(file: string, what = "file"): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new UserError(`cannot read ${what} ${file}: ${fsProblem(e)}`);
  }
  if (!st.isFile()) throw new UserError(`cannot read ${what} ${file}: it is ${kindOf(st)}, not a regular file`);
  return st;
}

/** Opens a regular file for reading: its descriptor and size. The caller closes the descriptor. */
export function openRegularFile(file: string, what = "file"): { fd: number; size: number } {
  statRegularFile(file, what);
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    throw new UserError(`cannot open ${what} ${file}: ${fsProblem(e)}`);
  }
  // The path may have been swapped between stat and open: check what was opened.
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new UserError(`cannot read ${what} ${file}: it is ${kindOf(st)}, not a regular file`);
  }
  return { fd, size: st.size };
}

/**
 * A regular file as a ByteSource (util/byte-source.ts): positioned reads, nothing read up front.
 * The caller closes it.
 */
export function fileSource(file: string, what = "file"): ByteSource {
  const opened = openRegularFile(file, what);
  let fd: number | undefined = opened.fd;
  return {
    name: file,
    size: opened.size,
    read(offset: number, length: number): Uint8Array<ArrayBuffer> {
      if (fd === undefined) throw new Error(`${file} is closed`);
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        let n: number;
        try {
          n = fs.readSync(fd, out, got, Math.min(length - got, 1 << 30), offset + got);
        } catch (e) {
          throw new UserError(`cannot read ${what} ${file}: ${fsProblem(e)}`);
        }
        if (n <= 0) throw new UserError(`${file}: read error at offset ${offset + got} (the file shrank while being read?)`);
        got += n;
      }
      return out;
    },
    close(): void {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}

export interface ReadLimits {
  /** Refuse files larger than this many bytes. */
  maxBytes: number;
  /** The file's role in messages ("config", "tokenizer"). */
  what?: string;
}

/** Reads a whole regular file of at most `maxBytes` bytes; anything else is a UserError. */
export function readRegularFile(file: string, limits: ReadLimits): Buffer {
  const what = limits.what ?? "file";
  const { fd, size } = openRegularFile(file, what);
  try {
    if (size > limits.maxBytes) {
      throw new UserError(`${what} ${file} is ${formatBytes(size)}, more than the ${formatBytes(limits.maxBytes)} such a file can sensibly be; is it the right file?`);
    }
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, got, size - got, got);
      } catch (e) {
        throw new UserError(`cannot read ${what} ${file}: ${fsProblem(e)}`);
      }
      if (n === 0) throw new UserError(`cannot read ${what} ${file}: it shrank while being read`);
      got += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** readRegularFile decoded as UTF-8. */
export function readRegularText(file: string, limits: ReadLimits): string {
  return readRegularFile(file, limits).toString("utf8");
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * The real path of `rel` inside `dir`, which must exist and stay inside `dir` once symlinks
 * are resolved (a shard symlinked to /etc/passwd is refused). One exception keeps the Hugging
 * Face hub cache working: in `models--X/snapshots/REV/` every file is a symlink into
 * `models--X/blobs/`, so that folder is allowed too. `indexFile` names the file that pointed at
 * `rel` in messages.
 */
export function resolveInside(dir: string, rel: string, indexFile?: string): string {
  const where = indexFile ?? dir;
  const joined = path.resolve(dir, rel);
  let real: string;
  let realDir: string;
  try {
    realDir = fs.realpathSync(dir);
    real = fs.realpathSync(joined);
  } catch (e) {
    throw new UserError(`${where}: cannot resolve ${joined}: ${fsProblem(e)}`);
  }
  const allowed = [realDir];
  const snap = path.dirname(realDir);
  const repo = path.dirname(snap);
  if (path.basename(snap) === "snapshots" && /^(models|datasets)--/.test(path.basename(repo))) allowed.push(path.join(repo, "blobs"));
  if (!allowed.some((root) => isWithin(root, real))) {
    throw new UserError(`${where}: ${rel} resolves to ${real}, outside the folder ${realDir}; refusing to read it (copy the file into the folder if it is meant to be there)`);
  }
  return real;
}

function isWithin(root: string, p: string): boolean {
  const r = path.relative(root, p);
  return r !== "" && !r.startsWith("..") && !path.isAbsolute(r);
}

/**
 * Throws a UserError when any of `files` exists, unless `overwrite` is set. `flag` is the
 * option that allows replacing (e.g. "--overwrite").
 */
export function refuseExisting(files: readonly string[], overwrite: boolean, flag: string): void {
  if (overwrite) return;
  for (const f of files) {
    if (fs.existsSync(f)) throw new UserError(`${f} already exists; pass ${flag} to replace it`);
  }
}

/** Sequential writes to one open file (see writeFileAtomicWith). */
export type WriteFn = (bytes: Uint8Array) => void;

/**
 * Writes `file` atomically: `produce` writes the content through `write` into FILE.tmp-<pid>,
 * which is then flushed and renamed over `file`. A file-system error (EROFS, ENOSPC, ENOENT,
 * EACCES...) becomes a UserError naming `file`; the temporary file is removed on any failure.
 */
export function writeFileAtomicWith(file: string, produce: (write: WriteFn) => void): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fail = (e: unknown): never => {
    if (e instanceof UserError) throw e;
    if ((e as { code?: unknown } | null)?.code === undefined) throw e;
    throw new UserError(`cannot write ${file}: ${fsProblem(e)}`);
  };
  let fd: number;
  try {
    fd = fs.openSync(tmp, "w");
  } catch (e) {
    return fail(e);
  }
  try {
    produce((b) => {
      let done = 0;
      while (done < b.length) done += fs.writeSync(fd, b, done, Math.min(b.length - done, 1 << 30));
    });
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    return fail(e);
  }
  try {
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    fail(e);
  }
}

/** Writes a whole string or byte array atomically (see writeFileAtomicWith). */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  writeFileAtomicWith(file, (write) => write(bytes));
}

/** mkdir -p with file-system errors as a UserError naming the folder. */
export function makeDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`cannot create folder ${dir}: ${fsProblem(e)}`);
  }
}
