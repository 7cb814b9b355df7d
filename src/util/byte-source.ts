/**
 * Where a format parser's bytes come from: a random-access, synchronous, bounded source.
 *
 *   read(offset, length) -> a fresh Uint8Array of exactly `length` bytes at [offset, offset+length)
 *
 * The parsers (GGUF, safetensors, ...) are written once against this interface; a file on disk
 * (`fileSource` in util/files.ts, Node only) and bytes already in memory (`bytesSource`: an
 * ArrayBuffer, a Uint8Array, what a browser gets from `File.arrayBuffer()` or `fetch`) are its
 * two implementations. Reading past the end is the caller's bug: the parsers check every
 * offset against `size` first, and say what was truncated.
 */

/** A tokenizer file (tokenizer.model, tokenizer.json) larger than this is refused (LLaMA's is 500 KB, Gemma's 4 MB). */
export const MAX_TOKENIZER_BYTES = 64 << 20;

export interface ByteSource {
  /** Shown in messages: a path, a file name or a URL. */
  readonly name: string;
  readonly size: number;
  /** A fresh, zero-offset copy of bytes [offset, offset + length). */
  read(offset: number, length: number): Uint8Array<ArrayBuffer>;
  /** Releases the file descriptor, if any. Reading after close is an error. */
  close(): void;
}

/**
 * Bytes that can be looked at in place, without a copy: a read-only file mapping
 * (runtime/mapped-file.ts). A view may be read-only memory: only code that reads weights gets it.
 */
export interface ByteViews {
  readonly size: number;
  /** Bytes [offset, offset + length), not copied. */
  view(offset: number, length: number): Uint8Array<ArrayBuffer>;
}

/** A ByteSource over bytes in memory (not copied: reads copy out of it). */
export function bytesSource(bytes: ArrayBuffer | Uint8Array, name: string): ByteSource {
  const all = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return {
    name,
    size: all.length,
    read(offset: number, length: number): Uint8Array<ArrayBuffer> {
      if (offset < 0 || length < 0 || offset + length > all.length) {
        throw new RangeError(`${name}: read of ${length} bytes at ${offset} is outside the ${all.length} bytes`);
      }
      return all.slice(offset, offset + length);
    },
    close(): void { /* nothing to release */ },
  };
}

/** UTF-8 decoding shared by the parsers, as Buffer.toString does it (bad bytes become U+FFFD, a BOM is kept). */
export const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });
export const utf8Encoder = new TextEncoder();
