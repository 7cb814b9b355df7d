/**
 * PyTorch `.pth` / `.pt` checkpoints (torch.save's zip format, PyTorch >= 1.6) read without
 * executing anything.
 *
 * The archive holds `PREFIX/data.pkl` (a pickle of the state dict), `PREFIX/data/KEY` (one
 * entry per storage, raw little-endian elements), `PREFIX/version` and, in newer files,
 * `PREFIX/byteorder`. The pickle is run by a restricted machine: data opcodes only (protocol 2
 * as torch.save emits it, plus the harmless protocol 4/5 framing and short-string opcodes), and
 * a fixed allow-list of globals that are *names*, never imported or called:
 *
 *   collections.OrderedDict             -> an empty (or pair-list) dict
 *   torch._utils._rebuild_tensor_v2     (storage, offset, size, stride, requires_grad, hooks[, meta])
 *   torch._utils._rebuild_parameter     (tensor, requires_grad, hooks)  -> the tensor
 *   torch._utils._rebuild_parameter_with_state (tensor, requires_grad, hooks, state) -> the tensor
 *   torch.{Half,BFloat16,Float,Double,...}Storage  -> a storage type, only inside a persistent id
 *
 * BINPERSID takes the tuple ("storage", StorageType, key, location, numel) and resolves it to
 * the archive entry `PREFIX/data/KEY`, checked to hold numel elements. Any other global (e.g.
 * `posix.system`, `builtins.eval`), REDUCE of anything but the allowed rebuild calls, or an
 * opcode outside the set (INST, OBJ, NEWOBJ, EXT*, text-protocol opcodes, ...) is a UserError
 * naming it; nothing is imported, called or executed.
 *
 * Tensors come back as descriptors (dtype, shape, stride, storage offset); `readPthTensorF32`
 * reads one tensor's bytes on demand (strided views are gathered), so a large checkpoint is
 * never loaded at once. Every size, offset and stride is checked against its storage and the
 * storage against the file, so a crafted file cannot make us allocate more than it holds.
 */
import { UserError } from "../util/errors.js";
import { bf16ArrayToF32, f16ArrayToF32 } from "./half.js";
import { closeZip, openZip, readZipEntry, type ZipDirectory, type ZipEntry } from "./zip.js";

export type PthDtype = "f16" | "bf16" | "f32" | "f64" | "i64" | "i32" | "i16" | "i8" | "u8" | "bool";

/** torch storage class name -> element type and size. */
const STORAGE_TYPES: Readonly<Record<string, { dtype: PthDtype; bytes: number }>> = {
  HalfStorage: { dtype: "f16", bytes: 2 },
  BFloat16Storage: { dtype: "bf16", bytes: 2 },
  FloatStorage: { dtype: "f32", bytes: 4 },
  DoubleStorage: { dtype: "f64", bytes: 8 },
  LongStorage: { dtype: "i64", bytes: 8 },
  IntStorage: { dtype: "i32", bytes: 4 },
  ShortStorage: { dtype: "i16", bytes: 2 },
  CharStorage: { dtype: "i8", bytes: 1 },
  ByteStorage: { dtype: "u8", bytes: 1 },
  BoolStorage: { dtype: "bool", bytes: 1 },
};

export interface PthStorage {
  key: string;
  dtype: PthDtype;
  itemBytes: number;
  numel: number;
  entry: ZipEntry;
}

export interface PthTensor {
  dtype: PthDtype;
  shape: number[];
  /** Strides in elements. */
  stride: number[];
  /** Offset into the storage, in elements. */
  storageOffset: number;
  storage: PthStorage;
}

export interface PthFile {
  path: string;
  zip: ZipDirectory;
  /** The state dict's tensors by (dot-joined, for nested dicts) name, in file order. */
  tensors: Map<string, PthTensor>;
}

/** data.pkl is read into memory; real ones are a few hundred bytes per tensor. */
const MAX_PICKLE_BYTES = 256 << 20;

// ---- the restricted unpickler ----

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

class Global {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

class StorageType {
  constructor(readonly name: string) {}
}

class Mark {}
const MARK = new Mark();

type Value = null | boolean | number | string | Uint8Array | Value[] | Map<Value, Value> | Global | StorageType | PthStorage | PthTensor | Mark;

const ALLOWED_CALLS = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
]);

function resolveGlobal(module: string, name: string, fail: (m: string) => never): Value {
  const q = `${module}.${name}`;
  if (ALLOWED_CALLS.has(q)) return new Global(module, name);
  if (module === "torch" && STORAGE_TYPES[name] !== undefined) return new StorageType(name);
  return fail(`refused pickle global ${q} (only tensor-rebuild globals are allowed; nothing was executed)`);
}

function isTensor(v: Value | undefined): v is PthTensor {
  return typeof v === "object" && v !== null && "storage" in v && "shape" in v;
}

function isStorage(v: Value | undefined): v is PthStorage {
  return typeof v === "object" && v !== null && "entry" in v && "itemBytes" in v;
}

function intList(v: Value | undefined, what: string, fail: (m: string) => never): number[] {
  if (!Array.isArray(v)) fail(`${what} is not a tuple`);
  return v.map((x) => {
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) fail(`${what} holds ${String(x)}, not a non-negative integer`);
    return x;
  });
}

function rebuildTensor(args: Value[], fail: (m: string) => never): PthTensor {
  if (args.length < 6 || args.length > 7) fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
  const storage = args[0];
  if (!isStorage(storage)) fail("_rebuild_tensor_v2: first argument is not a storage");
  const offset = args[1];
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) fail(`_rebuild_tensor_v2: bad storage offset ${String(offset)}`);
  const shape = intList(args[2], "tensor size", fail);
  const stride = intList(args[3], "tensor stride", fail);
  if (shape.length !== stride.length) fail(`tensor size has ${shape.length} dims but stride has ${stride.length}`);
  let numel = 1;
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    numel *= shape[i]!;
    last += Math.max(0, shape[i]! - 1) * stride[i]!;
  }
  if (numel > 0 && (!Number.isSafeInteger(last) || last >= storage.numel)) {
    fail(`tensor [${shape.join(", ")}] at offset ${offset} with stride [${stride.join(", ")}] reaches element ${last}, past the end of storage ${storage.key} (${storage.numel} elements)`);
  }
  if (numel > storage.numel) fail(`tensor [${shape.join(", ")}] has more elements than its storage ${storage.key} (${storage.numel}); expanded views are not supported`);
  return { dtype: storage.dtype, shape, stride, storageOffset: offset, storage };
}

function call(fn: Value | undefined, args: Value | undefined, fail: (m: string) => never): Value {
  if (!(fn instanceof Global)) {
    return fail(`refused pickle REDUCE of ${fn instanceof StorageType ? `torch.${fn.name}` : typeof fn} (only tensor-rebuild calls are allowed; nothing was executed)`);
  }
  if (!Array.isArray(args)) fail(`REDUCE arguments of ${fn.qualified} are not a tuple`);
  switch (fn.qualified) {
    case "collections.OrderedDict": {
      const d = new Map<Value, Value>();
      if (args.length === 1 && Array.isArray(args[0])) {
        for (const pair of args[0]) {
          if (!Array.isArray(pair) || pair.length !== 2) fail("OrderedDict argument is not a list of pairs");
          d.set(pair[0]!, pair[1]!);
        }
      } else if (args.length !== 0) fail(`OrderedDict takes no arguments or a list of pairs, got ${args.length}`);
      return d;
    }
    case "torch._utils._rebuild_tensor_v2":
      return rebuildTensor(args, fail);
    default: {
      // _rebuild_parameter(data, requires_grad, hooks) and _rebuild_parameter_with_state(..., state)
      const t = args[0];
      if (!isTensor(t)) fail(`${fn.qualified}: first argument is not a tensor`);
      return t;
    }
  }
}

interface Context {
  file: string;
  zip: ZipDirectory;
  prefix: string;
}

function persistentLoad(pid: Value | undefined, ctx: Context, fail: (m: string) => never): PthStorage {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== "storage") fail("persistent id is not a (\"storage\", type, key, location, numel) tuple");
  const [, type, key, , numel] = pid;
  if (!(type instanceof StorageType)) fail("persistent id does not name a torch storage type");
  if (typeof key !== "string") fail("persistent id storage key is not a string");
  if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) fail(`storage ${key}: bad element count ${String(numel)}`);
  const entry = ctx.zip.entries.get(`${ctx.prefix}data/${key}`);
  if (!entry) fail(`storage ${key}: the archive has no entry ${ctx.prefix}data/${key}`);
  const t = STORAGE_TYPES[type.name]!;
  if (numel * t.bytes > entry.size) {
    fail(`storage ${key} claims ${numel} ${type.name} elements (${numel * t.bytes} bytes) but its data entry holds ${entry.size} bytes`);
  }
  return { key, dtype: t.dtype, itemBytes: t.bytes, numel, entry };
}

/** Runs the restricted pickle machine over `data` and returns the unpickled value. */
function unpickle(data: Uint8Array, ctx: Context): Value {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  let opPos = 0;
  const fail: (m: string) => never = (m) => {
    throw new UserError(`${ctx.file}: ${ctx.prefix}data.pkl byte ${opPos}: ${m}`);
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > data.length) fail("pickle ends in the middle of an opcode (truncated data.pkl)");
  };
  const u8 = (): number => (need(1), data[pos++]!);
  const u16 = (): number => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = (): number => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = (): number => {
    need(8);
    const x = view.getBigUint64(pos, true);
    pos += 8;
    if (x > BigInt(data.length)) fail(`length ${x} exceeds the pickle`);
    return Number(x);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const str = (n: number): string => {
    try {
      return utf8.decode(bytes(n));
    } catch {
      return fail("string is not valid UTF-8");
    }
  };
  const longLE = (b: Uint8Array): number => {
    if (b.length > 8) fail(`integer of ${b.length} bytes is too large`);
    let x = 0n;
    for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
    if (b.length > 0 && (b[b.length - 1]! & 0x80) !== 0) x -= 1n << BigInt(8 * b.length);
    if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < -BigInt(Number.MAX_SAFE_INTEGER)) fail(`integer ${x} is too large`);
    return Number(x);
  };

  const stack: Value[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Value>();
  const pop = (): Value => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail("pickle stack underflow");
    return stack.pop()!;
  };
  const top = (): Value => {
    if (stack.length === 0) fail("pickle stack underflow");
    return stack[stack.length - 1]!;
  };
  const popMark = (): Value[] => {
    const m = marks.pop();
    if (m === undefined) fail("pickle has no MARK to pop to");
    return stack.splice(m!);
  };
  const asDict = (v: Value): Map<Value, Value> => (v instanceof Map ? v : fail("SETITEM(S) target is not a dict"));
  const asList = (v: Value): Value[] => (Array.isArray(v) ? v : fail("APPEND(S) target is not a list"));
  const hashable = (k: Value): Value => (typeof k === "string" || typeof k === "number" || typeof k === "boolean" || k === null ? k : fail("dict key is not a string or number"));
  const get = (i: number): Value => {
    const v = memo.get(i);
    if (v === undefined) fail(`memo ${i} is not set`);
    return v!;
  };

  for (;;) {
    opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p < 2 || p > 5) fail(`pickle protocol ${p} is not supported (torch.save writes protocol 2)`);
        break;
      }
      case 0x95: u64(); break; // FRAME: framing hint only
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length !== 0) fail("pickle stops with a malformed stack");
        return stack[0]!;
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: need(4); stack.push(view.getInt32(pos, true)); pos += 4; break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(longLE(bytes(u8()))); break; // LONG1
      case 0x8b: stack.push(longLE(bytes(u32()))); break; // LONG4
      case 0x47: need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT (big-endian)
      case 0x58: stack.push(str(u32())); break; // BINUNICODE
      case 0x8c: stack.push(str(u8())); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(str(u64())); break; // BINUNICODE8
      case 0x54: stack.push(latin1.decode(bytes(u32()))); break; // BINSTRING
      case 0x55: stack.push(latin1.decode(bytes(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(bytes(u32())); break; // BINBYTES
      case 0x43: stack.push(bytes(u8())); break; // SHORT_BINBYTES
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); asList(top()).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); asList(top()).push(...items); break; } // APPENDS
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2 !== 0) fail("DICT has an odd number of items");
        const d = new Map<Value, Value>();
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]!), items[i + 1]!);
        stack.push(d);
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); asDict(top()).set(hashable(k), v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) fail("SETITEMS has an odd number of items");
        const d = asDict(top());
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]!), items[i + 1]!);
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: stack.push(get(u8())); break; // BINGET
      case 0x6a: stack.push(get(u32())); break; // LONG_BINGET
      case 0x63: { // GLOBAL: "module\nname\n"
        const line = (): string => {
          const end = data.indexOf(0x0a, pos);
          if (end < 0 || end - pos > 256) fail("GLOBAL name is not terminated");
          const s = latin1.decode(data.subarray(pos, end));
          pos = end + 1;
          return s;
        };
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name, fail));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        stack.push(resolveGlobal(module as string, name as string, fail));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args, fail)); break; } // REDUCE
      case 0x51: stack.push(persistentLoad(pop(), ctx, fail)); break; // BINPERSID
      case 0x62: { // BUILD: only a state dict's attribute dict (e.g. OrderedDict._metadata), ignored
        pop();
        if (!(top() instanceof Map)) fail("refused pickle BUILD on a non-dict object (nothing was executed)");
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")} (${JSON.stringify(String.fromCharCode(op))}); only the data opcodes torch.save writes are read`);
    }
  }
}

// ---- the archive ----

function collectTensors(v: Value, prefix: string, out: Map<string, PthTensor>): void {
  if (!(v instanceof Map)) return;
  for (const [k, x] of v) {
    const name = prefix + String(k);
    if (isTensor(x)) out.set(name, x);
    else if (x instanceof Map) collectTensors(x, `${name}.`, out);
  }
}

/** Opens a torch.save zip checkpoint and reads its tensor directory (no tensor data is read). */
export function openPth(file: string): PthFile {
  const zip = openZip(file);
  try {
    const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) throw new UserError(`${file}: expected one ARCHIVE/data.pkl entry in the zip, found ${pkls.length} (is this a torch.save checkpoint?)`);
    const prefix = pkls[0]!.slice(0, -"data.pkl".length);
    const order = zip.entries.get(`${prefix}byteorder`);
    if (order) {
      const text = latin1.decode(readZipEntry(zip, order, 0, Math.min(order.size, 16))).trim();
      if (text !== "little") throw new UserError(`${file}: storages are ${text}-endian; only little-endian checkpoints are supported`);
    }
    const pkl = zip.entries.get(pkls[0]!)!;
    if (pkl.size > MAX_PICKLE_BYTES) throw new UserError(`${file}: ${pkls[0]} is ${pkl.size} bytes, more than the ${MAX_PICKLE_BYTES} allowed`);
    const root = unpickle(readZipEntry(zip, pkl), { file, zip, prefix });
    if (!(root instanceof Map)) throw new UserError(`${file}: the checkpoint is not a dict of tensors`);
    const tensors = new Map<string, PthTensor>();
    collectTensors(root, "", tensors);
    return { path: file, zip, tensors };
  } catch (e) {
    closeZip(zip);
    throw e;
  }
}

export function closePth(f: PthFile): void {
  closeZip(f.zip);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** True when the strides are row-major for the shape (dims of size 1 may have any stride). */
export function isContiguous(t: PthTensor): boolean {
  let expect = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    if (t.shape[i] !== 1 && t.stride[i] !== expect) return false;
    expect *= t.shape[i]!;
  }
  return true;
}

function toF32(raw: Uint8Array<ArrayBuffer>, dtype: PthDtype, n: number, file: string, name: string): Float32Array {
  const buf = raw.buffer;
  switch (dtype) {
    case "f16": return f16ArrayToF32(new Uint16Array(buf, 0, n));
    case "bf16": return bf16ArrayToF32(new Uint16Array(buf, 0, n));
    case "f32": return new Float32Array(buf, 0, n);
    case "f64": return Float32Array.from(new Float64Array(buf, 0, n));
    default: throw new UserError(`${file}: tensor ${name} has type ${dtype}; only f16, bf16, f32 and f64 tensors can be read as weights`);
  }
}

/** Reads a tensor as a contiguous row-major float32 array (strided views are gathered). */
export function readPthTensorF32(f: PthFile, name: string): Float32Array {
  const t = f.tensors.get(name);
  if (!t) throw new UserError(`${f.path}: no tensor named ${name}`);
  const n = numel(t.shape);
  if (n === 0) return new Float32Array(0);
  const s = t.storage;
  // Elements first..last of the storage cover the tensor (checked against the storage at load).
  let last = t.storageOffset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i]! - 1) * t.stride[i]!;
  const span = last - t.storageOffset + 1;
  const raw = readZipEntry(f.zip, s.entry, t.storageOffset * s.itemBytes, span * s.itemBytes);
  const all = toF32(raw, t.dtype, span, f.path, name);
  if (isContiguous(t)) return all;
  const out = new Float32Array(n);
  const dims = t.shape.length;
  const idx = new Array<number>(dims).fill(0);
  let src = 0;
  for (let i = 0; i < n; i++) {
    out[i] = all[src]!;
    for (let d = dims - 1; d >= 0; d--) {
      idx[d]!++;
      src += t.stride[d]!;
      if (idx[d]! < t.shape[d]!) break;
      src -= idx[d]! * t.stride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
