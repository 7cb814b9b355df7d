/**
 * A read-only zip directory reader for *stored* (uncompressed) entries, as `torch.save` writes
 * them. It reads only the end-of-central-directory record, the central directory and one local
 * header per entry, and returns where each entry's bytes lie in the file, so callers read
 * tensors lazily with positional reads (a 13 GB checkpoint is never loaded at once).
 *
 * Layout (PKWARE APPNOTE 6.3): the file ends with the EOCD record (signature 0x06054b50,
 * then up to 65535 bytes of comment); when a field overflows (entries 0xFFFF, sizes or
 * offsets 0xFFFFFFFF) a ZIP64 EOCD locator (0x07064b50) sits right before it and points to the
 * ZIP64 EOCD record (0x06064b50) holding 64-bit values. Each central header (0x02014b50) names
 * an entry and its local header (0x04034b50); overflowing 32-bit fields are then read from the
 * ZIP64 extra field (id 0x0001) in the order uncompressed size, compressed size, local offset.
 * An entry's data starts after its local header: 30 + name length + local extra length bytes
 * (the local extra may differ from the central one: torch pads it to align tensors to 64 bytes).
 *
 * Why hand-written: we need lazy, positional access with every size checked against the file,
 * no decompression, and no dependency; the npm zip readers either inflate whole entries or
 * stream the archive. Compressed or encrypted entries, multi-disk archives and offsets outside
 * the file are refused with a UserError naming the file.
 */
import fs from "node:fs";
import { UserError } from "../util/errors.js";
import { openForReading, readExactly } from "./safetensors.js";

export interface ZipEntry {
  name: string;
  /** Absolute file offset of the entry's first data byte. */
  dataOffset: number;
  /** Entry size in bytes (stored: compressed size = uncompressed size). */
  size: number;
}

export interface ZipDirectory {
  path: string;
  fd: number;
  fileSize: number;
  entries: Map<string, ZipEntry>;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const utf8 = new TextDecoder("utf-8");
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
/** The central directory is read into memory; refuse absurd ones (torch's have a few entries per tensor). */
const MAX_CENTRAL_DIRECTORY_BYTES = 256 << 20;

function fail(file: string, problem: string): never {
  throw new UserError(`${file}: ${problem}`);
}

function readAt(z: { fd: number; path: string }, position: number, length: number, what: string): DataView {
  const buf = new Uint8Array(length);
  readExactly(z.fd, z.path, buf, position, what);
  return new DataView(buf.buffer);
}

function u64(v: DataView, at: number, file: string, what: string): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) fail(file, `zip ${what} ${x} is too large`);
  return Number(x);
}

interface CentralDirectoryLocation {
  offset: number;
  size: number;
  count: number;
}

/** Finds the central directory from the (ZIP64) end-of-central-directory record. */
function locateCentralDirectory(z: ZipDirectory): CentralDirectoryLocation {
  const tailLen = Math.min(z.fileSize, EOCD_SIZE + 0xffff);
  const tailStart = z.fileSize - tailLen;
  const tail = readAt(z, tailStart, tailLen, "the end of the zip archive");
  let eocd = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (tail.getUint32(i, true) === EOCD_SIG && i + EOCD_SIZE + tail.getUint16(i + 20, true) <= tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    const head = tailLen >= 2 ? String.fromCharCode(tail.getUint8(0), tail.getUint8(1)) : "";
    const hint = tailStart === 0 && head === "PK" ? "the archive is truncated or damaged" : "the file is truncated, or not a zip-format PyTorch checkpoint (torch.save before PyTorch 1.6 wrote another format)";
    fail(z.path, `no zip end-of-central-directory record: ${hint}`);
  }
  if (tail.getUint16(eocd + 4, true) !== 0 || tail.getUint16(eocd + 6, true) !== 0) fail(z.path, "multi-disk zip archives are not supported");
  let count = tail.getUint16(eocd + 10, true);
  let size = tail.getUint32(eocd + 12, true);
  let offset = tail.getUint32(eocd + 16, true);
  const eocdPos = tailStart + eocd;
  let end = eocdPos;
  const locatorPos = eocd - 20;
  if (locatorPos >= 0 && tail.getUint32(locatorPos, true) === ZIP64_LOCATOR_SIG) {
    const recPos = u64(tail, locatorPos + 8, z.path, "ZIP64 record offset");
    if (recPos + 56 > eocdPos - 20) fail(z.path, `ZIP64 end record offset ${recPos} is outside the archive`);
    const rec = readAt(z, recPos, 56, "the ZIP64 end-of-central-directory record");
    if (rec.getUint32(0, true) !== ZIP64_EOCD_SIG) fail(z.path, `no ZIP64 end-of-central-directory record at offset ${recPos}`);
    count = u64(rec, 32, z.path, "entry count");
    size = u64(rec, 40, z.path, "central directory size");
    offset = u64(rec, 48, z.path, "central directory offset");
    end = recPos;
  } else if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    fail(z.path, "zip archive needs ZIP64 records but has none");
  }
  if (offset + size > end) fail(z.path, `zip central directory (offset ${offset}, ${size} bytes) lies outside the archive`);
  if (size > MAX_CENTRAL_DIRECTORY_BYTES) fail(z.path, `zip central directory of ${size} bytes is too large`);
  if (count * CENTRAL_SIZE > size) fail(z.path, `zip central directory claims ${count} entries in ${size} bytes`);
  return { offset, size, count };
}

/** Reads the 64-bit values an overflowing central header keeps in its ZIP64 extra field. */
function zip64Extra(
  extra: DataView,
  file: string,
  name: string,
  need: { usize: boolean; csize: boolean; offset: boolean },
): { usize?: number; csize?: number; offset?: number } {
  let p = 0;
  while (p + 4 <= extra.byteLength) {
    const id = extra.getUint16(p, true);
    const len = extra.getUint16(p + 2, true);
    if (p + 4 + len > extra.byteLength) break;
    if (id === 0x0001) {
      const out: { usize?: number; csize?: number; offset?: number } = {};
      let q = p + 4;
      const take = (): number => {
        if (q + 8 > p + 4 + len) fail(file, `zip entry ${name}: ZIP64 extra field is too short`);
        const v = u64(extra, q, file, `entry ${name} field`);
        q += 8;
        return v;
      };
      if (need.usize) out.usize = take();
      if (need.csize) out.csize = take();
      if (need.offset) out.offset = take();
      return out;
    }
    p += 4 + len;
  }
  return fail(file, `zip entry ${name} needs a ZIP64 extra field but has none`);
}

function readEntries(z: ZipDirectory, loc: CentralDirectoryLocation): void {
  const cd = readAt(z, loc.offset, loc.size, "the zip central directory");
  const bytes = new Uint8Array(cd.buffer);
  let p = 0;
  for (let i = 0; i < loc.count; i++) {
    if (p + CENTRAL_SIZE > loc.size || cd.getUint32(p, true) !== CENTRAL_SIG) fail(z.path, `zip central directory entry ${i} is damaged`);
    const flags = cd.getUint16(p + 8, true);
    const method = cd.getUint16(p + 10, true);
    let csize = cd.getUint32(p + 20, true);
    let usize = cd.getUint32(p + 24, true);
    const nameLen = cd.getUint16(p + 28, true);
    const extraLen = cd.getUint16(p + 30, true);
    const commentLen = cd.getUint16(p + 32, true);
    let offset = cd.getUint32(p + 42, true);
    const next = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > loc.size) fail(z.path, `zip central directory entry ${i} runs past the directory`);
    const name = utf8.decode(bytes.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));
    const need = { usize: usize === 0xffffffff, csize: csize === 0xffffffff, offset: offset === 0xffffffff };
    if (need.usize || need.csize || need.offset) {
      const x = zip64Extra(new DataView(cd.buffer, p + CENTRAL_SIZE + nameLen, extraLen), z.path, name, need);
      usize = x.usize ?? usize;
      csize = x.csize ?? csize;
      offset = x.offset ?? offset;
    }
    if ((flags & 1) !== 0) fail(z.path, `zip entry ${name} is encrypted`);
    if (method !== 0) fail(z.path, `zip entry ${name} is compressed (method ${method}); torch.save writes stored (uncompressed) entries`);
    if (csize !== usize) fail(z.path, `zip entry ${name}: stored entry has compressed size ${csize} != size ${usize}`);
    if (offset + LOCAL_SIZE > loc.offset) fail(z.path, `zip entry ${name}: local header offset ${offset} is outside the archive`);
    const local = readAt(z, offset, LOCAL_SIZE, `the local header of ${name}`);
    if (local.getUint32(0, true) !== LOCAL_SIG) fail(z.path, `zip entry ${name}: no local header at offset ${offset}`);
    const dataOffset = offset + LOCAL_SIZE + local.getUint16(26, true) + local.getUint16(28, true);
    if (dataOffset + usize > loc.offset) fail(z.path, `zip entry ${name} (${usize} bytes at offset ${dataOffset}) runs past the end of the data`);
    if (z.entries.has(name)) fail(z.path, `zip entry ${name} appears twice`);
    z.entries.set(name, { name, dataOffset, size: usize });
    p = next;
  }
}

/** Opens a zip archive and reads its directory. Close `fd` with `closeZip` when done. */
export function openZip(file: string): ZipDirectory {
  const fd = openForReading(file);
  try {
    const z: ZipDirectory = { path: file, fd, fileSize: fs.fstatSync(fd).size, entries: new Map() };
    if (z.fileSize < EOCD_SIZE) fail(file, `${z.fileSize} bytes is too small for a zip archive (is it truncated?)`);
    readEntries(z, locateCentralDirectory(z));
    return z;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

export function closeZip(z: ZipDirectory): void {
  fs.closeSync(z.fd);
}

/** Reads `length` bytes of an entry starting `start` bytes into it (checked against the entry). */
export function readZipEntry(z: ZipDirectory, e: ZipEntry, start = 0, length = e.size - start): Uint8Array<ArrayBuffer> {
  if (start < 0 || length < 0 || start + length > e.size) fail(z.path, `read of bytes ${start}..${start + length} is outside zip entry ${e.name} (${e.size} bytes)`);
  const buf = new Uint8Array(length);
  readExactly(z.fd, z.path, buf, e.dataOffset + start, `zip entry ${e.name}`);
  return buf;
}
