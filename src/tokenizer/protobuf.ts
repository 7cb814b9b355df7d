/**
 * Minimal protobuf wire-format reading and writing: just what SentencePiece's ModelProto
 * needs (varints, fixed32 floats, length-delimited strings and sub-messages). No schema
 * compiler: model-proto.ts maps field numbers to names by hand.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** Raised for bytes that are not valid protobuf; callers turn it into a UserError naming the file. */
export class ProtobufError extends Error {
  override readonly name = "ProtobufError";
}

export interface Field {
  /** Field number from the .proto. */
  no: number;
  wire: number;
  /** For WIRE_VARINT: the value (exact up to 2^53; SentencePiece's ints are small). */
  varint: number;
  /** For WIRE_VARINT: the low 32 bits as a signed int32 (negative int32s are 10-byte varints). */
  int32: number;
  /** For WIRE_FIXED32: the 4 raw bytes read as float32. */
  f32: number;
  /** For WIRE_LEN: the payload (a view into the input, not a copy). */
  bytes: Uint8Array;
}

/** Reads the fields of one message in order; repeated fields simply appear several times. */
export function* readFields(buf: Uint8Array): Generator<Field> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  let lo32 = 0;
  const readVarint = (): number => {
    let result = 0;
    let mul = 1;
    lo32 = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ProtobufError(`truncated varint at byte ${pos}`);
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (i < 5) lo32 |= (b & 0x7f) << (7 * i);
      mul *= 128;
      if ((b & 0x80) === 0) return result;
    }
    throw new ProtobufError(`varint longer than 10 bytes at byte ${pos}`);
  };
  while (pos < buf.length) {
    const start = pos;
    const key = readVarint();
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (no === 0) throw new ProtobufError(`field number 0 at byte ${start}`);
    const field: Field = { no, wire, varint: 0, int32: 0, f32: 0, bytes: EMPTY };
    switch (wire) {
      case WIRE_VARINT:
        field.varint = readVarint();
        field.int32 = lo32 | 0;
        break;
      case WIRE_FIXED64:
        if (pos + 8 > buf.length) throw new ProtobufError(`truncated fixed64 at byte ${pos}`);
        pos += 8;
        break;
      case WIRE_LEN: {
        const len = readVarint();
        if (pos + len > buf.length) throw new ProtobufError(`length ${len} at byte ${pos} runs past the end (${buf.length} bytes)`);
        field.bytes = buf.subarray(pos, pos + len);
        pos += len;
        break;
      }
      case WIRE_FIXED32:
        if (pos + 4 > buf.length) throw new ProtobufError(`truncated fixed32 at byte ${pos}`);
        field.f32 = view.getFloat32(pos, true);
        pos += 4;
        break;
      default:
        throw new ProtobufError(`unsupported wire type ${wire} (field ${no}) at byte ${start}`);
    }
    yield field;
  }
}

const EMPTY = new Uint8Array(0);
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Decodes a protobuf `string` field (must be valid UTF-8). */
export function fieldString(f: Field, what: string): string {
  if (f.wire !== WIRE_LEN) throw new ProtobufError(`${what}: expected a string, got wire type ${f.wire}`);
  try {
    return utf8Decoder.decode(f.bytes);
  } catch {
    throw new ProtobufError(`${what}: not valid UTF-8`);
  }
}

/** Signed int32 from a varint (negative int32 values are encoded as 10-byte varints). */
export function fieldInt32(f: Field, what: string): number {
  if (f.wire !== WIRE_VARINT) throw new ProtobufError(`${what}: expected a varint, got wire type ${f.wire}`);
  return f.int32;
}

export function fieldFloat(f: Field, what: string): number {
  if (f.wire !== WIRE_FIXED32) throw new ProtobufError(`${what}: expected a float, got wire type ${f.wire}`);
  return f.f32;
}

export function fieldBool(f: Field, what: string): boolean {
  if (f.wire !== WIRE_VARINT) throw new ProtobufError(`${what}: expected a bool, got wire type ${f.wire}`);
  return f.varint !== 0;
}

export function fieldMessage(f: Field, what: string): Uint8Array {
  if (f.wire !== WIRE_LEN) throw new ProtobufError(`${what}: expected a message, got wire type ${f.wire}`);
  return f.bytes;
}

/** Appends protobuf fields to a growing byte buffer. */
export class ProtoWriter {
  private buf = new Uint8Array(1024);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private rawVarint(v: number): void {
    this.ensure(10);
    if (v < 0) {
      // int32/int64 negatives: 64-bit two's complement, always 10 bytes.
      let big = BigInt.asUintN(64, BigInt(v));
      for (let i = 0; i < 10; i++) {
        const b = Number(big & 0x7fn);
        big >>= 7n;
        this.buf[this.len++] = big === 0n ? b : b | 0x80;
        if (big === 0n) return;
      }
      return;
    }
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }

  private key(no: number, wire: number): void {
    this.rawVarint(no * 8 + wire);
  }

  int(no: number, v: number): this {
    this.key(no, WIRE_VARINT);
    this.rawVarint(Math.trunc(v));
    return this;
  }

  bool(no: number, v: boolean): this {
    return this.int(no, v ? 1 : 0);
  }

  float(no: number, v: number): this {
    this.key(no, WIRE_FIXED32);
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.len, v, true);
    this.len += 4;
    return this;
  }

  bytes(no: number, b: Uint8Array): this {
    this.key(no, WIRE_LEN);
    this.rawVarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  string(no: number, s: string): this {
    return this.bytes(no, utf8Encoder.encode(s));
  }

  message(no: number, w: ProtoWriter): this {
    return this.bytes(no, w.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
