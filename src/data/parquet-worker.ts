/**
 * The Parquet side of readers.ts's readParquet, run as a child process (`node parquet-worker.js
 * FILE FIELD`, IPC channel) so that a file on which hyparquet never returns, or crashes V8, can
 * be stopped (docs/upstream/hyparquet-rle-hang.md). It opens the file, sends its metadata, then
 * answers each `{ group }` request with the `field` column of that row group (non-string values
 * as null). Errors are sent, not thrown.
 *
 * Why hyparquet: pure JavaScript with no dependencies, reads only the requested column and row
 * range from a file-backed buffer, decodes Snappy itself and takes other decompressors as plain
 * functions (node:zlib provides GZIP, BROTLI and, on newer Node, ZSTD).
 */
import zlib from "node:zlib";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import type { AsyncBuffer, CompressionCodec, Compressors, FileMetaData } from "hyparquet";
import { UserError } from "../util/errors.js";
import type { ParquetWorkerMessage } from "./readers.js";

const [file = "", field = "text"] = process.argv.slice(2);

function post(m: ParquetWorkerMessage): void {
  process.send!(m);
}

function postError(e: unknown): void {
  post({ type: "error", message: e instanceof Error ? e.message : String(e), user: e instanceof UserError });
}

function hasZstd(): boolean {
  return typeof (zlib as unknown as { zstdDecompressSync?: unknown }).zstdDecompressSync === "function";
}

/** Decompressors for Parquet codecs hyparquet does not decode itself (it has Snappy built in). */
function compressors(): Compressors {
  const unsupported = (codec: CompressionCodec) => (): Uint8Array => {
    throw new UserError(`${file}: Parquet codec ${codec} is not supported here (SNAPPY, GZIP, BROTLI${hasZstd() ? ", ZSTD" : ""} are); rewrite the file with one of those`);
  };
  const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
  return {
    GZIP: (input) => zlib.gunzipSync(input),
    BROTLI: (input) => zlib.brotliDecompressSync(input),
    ZSTD: zstd ? (input) => zstd(input) : unsupported("ZSTD"),
    LZO: unsupported("LZO"),
    LZ4: unsupported("LZ4"),
    LZ4_RAW: unsupported("LZ4_RAW"),
  };
}

let buffer: AsyncBuffer;
let metadata: FileMetaData;
const starts: number[] = [];
try {
  buffer = await asyncBufferFromFile(file);
  metadata = await parquetMetadataAsync(buffer);
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  let row = 0;
  const groups = metadata.row_groups.map((g) => {
    starts.push(row);
    row += Number(g.num_rows);
    return { rows: Number(g.num_rows), compressedBytes: Number(g.total_compressed_size ?? 0) };
  });
  post({ type: "meta", columns, groups, byteLength: buffer.byteLength });
  const codecs = compressors();
  process.on("message", (req: { group: number }) => {
    const g = req.group;
    const rowStart = starts[g]!;
    const rowEnd = rowStart + Number(metadata.row_groups[g]!.num_rows);
    parquetReadObjects({ file: buffer, metadata, columns: [field], rowStart, rowEnd, compressors: codecs }).then(
      (rows) => post({ type: "rows", texts: rows.map((r) => (typeof r[field] === "string" ? (r[field] as string) : null)) }),
      postError,
    );
  });
} catch (e) {
  postError(e);
}

// The reader went away (or killed the channel): nothing more to do.
process.on("disconnect", () => process.exit(0));
