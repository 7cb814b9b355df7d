/**
 * The WebAssembly kernel backend: the native C kernels (native/kernels.c, train.c, quant.c on
 * the SIMD128 primitives of native/isa_wasm.c) compiled to wasm32 (scripts/build-wasm.mjs,
 * committed as wasm/llama_ts.wasm), driven from JS. Runs in browsers and in Node
 * (LLAMA_TS_BACKEND=wasm, loader: wasm-node.ts). No Node imports here: this file is bundled
 * for browsers.
 *
 * Data: operands are JS Float32Arrays outside the module's memory, so each call copies its
 * inputs into one reused operand area of the wasm heap (64-byte aligned pieces), runs the C
 * kernel and copies its outputs back; only what the kernel reads is copied (the used prefix of
 * a KV cache, the used rows of the RoPE tables).
 *
 * Weight cache: the `w` of matvec and of qmatmul (the decode path: the same weight every token)
 * is copied once and kept in the wasm heap, keyed by the array's identity (a WeakMap; freed when
 * the array is garbage-collected). The cache assumes those arrays are not written afterwards.
 * adamwSegment drops every cached weight that overlaps the parameters it updates (the trainer's
 * in-place update); any other in-place write to a weight must be followed by
 * `invalidate(weight)` (or `invalidate()` for all), else matvec/qmatmul keep using the old values.
 *
 * Threads: the module's memory is a shared WebAssembly.Memory; `setThreads(n)` starts n − 1
 * workers (worker_threads in Node, Web Workers in browsers: `workerFactory`) that instantiate
 * the same module on that memory, each with its own stack and TLS block, and wait for jobs
 * inside wasm (native/wasm/runtime.c: pool.c's protocol, memory.atomic.wait32). Workers start
 * asynchronously and jobs never wait for a worker that has not joined, so a kernel called
 * right after setThreads may still run on fewer threads; `await ready()` waits for them. One
 * thread, on the single-thread build wasm/llama_ts_st.wasm (unshared memory), where shared memory
 * is unavailable (a browser page that is not cross-origin isolated).
 */
import { GGML_TYPE_ID, type QuantMatrix } from "./quant.js";

/** What a worker needs to join (posted as its first message; see wasm-worker.ts). */
export interface WasmWorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  /** Top of the worker's stack (the stack grows down) and its TLS block, both in the heap. */
  stackTop: number;
  tls: number;
}

/** A started worker, as the backend uses it (a Web Worker or a worker_threads Worker fits). */
export interface WasmWorkerHandle {
  postMessage(msg: WasmWorkerInit): void;
  terminate(): unknown;
}

/**
 * Starts a worker running wasm-worker.ts (Node: wasm-worker-node.ts) and routes each message it
 * posts to `onMessage`.
 */
export type WasmWorkerFactory = (onMessage: (msg: unknown) => void) => WasmWorkerHandle;

export interface WasmBackendOptions {
  /** The module: wasm/llama_ts.wasm's bytes (threads), or it compiled; or the single-thread build. */
  wasm: BufferSource | WebAssembly.Module;
  /**
   * wasm/llama_ts_st.wasm (one thread, unshared memory): used instead of `wasm` where shared
   * memory is unavailable (a browser page that is not cross-origin isolated).
   */
  singleThreadWasm?: BufferSource | WebAssembly.Module;
  /** Threads to start with (default 1). */
  threads?: number;
  /** How to start a worker; without it the backend stays single-threaded. */
  workerFactory?: WasmWorkerFactory;
  /** Largest heap in bytes (default and most 4 GiB). */
  maxMemoryBytes?: number;
}

/** The raw kernel ops (the same names and signatures as the native backend's). */
export interface WasmKernelOps {
  matmul(out: Float32Array, a: Float32Array, w: Float32Array, m: number, n: number, k: number): void;
  matvec(out: Float32Array, w: Float32Array, x: Float32Array, n: number, k: number): void;
  qmatmul(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void;
  qmatmulMany(outs: readonly Float32Array[], a: Float32Array, ws: readonly QuantMatrix[], m: number): void;
  rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void;
  rope(x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, cos: Float32Array, sin: Float32Array): void;
  attention(
    out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
    rows: number, pos0: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void;
  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  addInPlace(x: Float32Array, y: Float32Array, n: number): void;
  matmulNN(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  matmulTN(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  attentionTrainForward(
    out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void;
  attentionTrainBackward(
    dq: Float32Array, dk: Float32Array, dv: Float32Array, dOut: Float32Array,
    q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number, accumulate: boolean,
  ): void;
  crossEntropy(logits: Float32Array, targets: Int32Array, rows: number, vocab: number, totalCount: number): number;
  rmsnormStats(out: Float32Array, invRms: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void;
  rmsnormApply(out: Float32Array, x: Float32Array, weight: Float32Array, invRms: Float32Array, rows: number, dim: number): void;
  rmsnormBackward(
    dx: Float32Array, dWeight: Float32Array | null, dOut: Float32Array, x: Float32Array, weight: Float32Array,
    invRms: Float32Array, rows: number, dim: number, accumulate: boolean,
  ): void;
  swigluBackward(dGate: Float32Array, dUp: Float32Array, dOut: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  adamwSegment(
    params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, start: number, end: number,
    decayFactor: number, gradScale: number, beta1: number, beta2: number, eps: number, stepSize: number, bc2Sqrt: number,
  ): void;
  sumSquares(x: Float32Array, n: number): number;
}

export interface WasmBackend extends WasmKernelOps {
  readonly name: "wasm";
  /** Threads kernels may use (caller included). */
  readonly threads: number;
  /** Sets the thread count (1 when the backend has no workerFactory or no shared memory). */
  setThreads(n: number): void;
  /** Resolves when every worker started so far runs (kernels can use them all). */
  ready(): Promise<void>;
  /** Drops the cached wasm copy of `weight` (every cached weight without an argument). */
  invalidate(weight?: Float32Array | QuantMatrix): void;
  /** Bytes of weights cached in the wasm heap. */
  readonly cachedBytes: number;
  /** Stops the workers; the backend must not be used afterwards. */
  dispose(): void;
}

/** The module's exports (native/wasm/api.c, runtime.c; wasm-ld's stack and TLS symbols). */
interface Exports {
  __stack_pointer: WebAssembly.Global;
  /** The threaded build only. */
  __tls_size?: WebAssembly.Global;
  __wasm_init_tls?(p: number): void;
  lt_wasm_init(): void;
  lt_wasm_malloc(n: number): number;
  lt_wasm_free(p: number): void;
  lt_wasm_set_threads(n: number): number;
  lt_wasm_get_threads(): number;
  lt_wasm_workers_online(): number;
  lt_wasm_allow_wait(): void;
  lt_wasm_matmul(out: number, a: number, w: number, m: number, n: number, k: number): number;
  lt_wasm_matvec(out: number, w: number, x: number, n: number, k: number): void;
  lt_wasm_qmatmul(out: number, a: number, w: number, type: number, m: number, n: number, k: number): number;
  lt_wasm_q_row_bytes(type: number, k: number): number;
  lt_wasm_rmsnorm(out: number, x: number, w: number, rows: number, dim: number, eps: number): void;
  lt_wasm_rope(x: number, rows: number, nHeads: number, headDim: number, pos0: number, cos: number, sin: number): void;
  lt_wasm_attention(out: number, q: number, k: number, v: number, rows: number, pos0: number, nH: number, nKv: number, hd: number): number;
  lt_wasm_swiglu(out: number, gate: number, up: number, n: number): void;
  lt_wasm_add(x: number, y: number, n: number): void;
  lt_wasm_matmul_nn(out: number, a: number, b: number, m: number, n: number, k: number, acc: number): number;
  lt_wasm_matmul_tn(out: number, a: number, b: number, m: number, n: number, k: number, acc: number): number;
  lt_wasm_attention_train_forward(out: number, lse: number, q: number, k: number, v: number, B: number, T: number, nH: number, nKv: number, hd: number): number;
  lt_wasm_attention_train_backward(
    dq: number, dk: number, dv: number, dout: number, q: number, k: number, v: number, out: number, lse: number,
    B: number, T: number, nH: number, nKv: number, hd: number, acc: number,
  ): number;
  lt_wasm_cross_entropy(logits: number, targets: number, rows: number, vocab: number, total: number, loss: number): number;
  lt_wasm_rmsnorm_stats(out: number, inv: number, x: number, w: number, rows: number, dim: number, eps: number): void;
  lt_wasm_rmsnorm_apply(out: number, x: number, w: number, inv: number, rows: number, dim: number): void;
  lt_wasm_rmsnorm_backward(dx: number, dw: number, dout: number, x: number, w: number, inv: number, rows: number, dim: number, acc: number): void;
  lt_wasm_swiglu_backward(dgate: number, dup: number, dout: number, gate: number, up: number, n: number): void;
  lt_wasm_adamw(p: number, g: number, m: number, v: number, n: number, decay: number, gscale: number, b1: number, b2: number, eps: number, step: number, bc2: number): void;
  lt_wasm_sum_squares(x: number, n: number, result: number): number;
}

/** Pages of 64 KiB: the module's initial memory (scripts/build-wasm.mjs --initial-memory). */
const INITIAL_PAGES = 64;
const MAX_PAGES = 65536;
/** Each worker's stack (the calling thread's is the module's own 1 MiB). */
const WORKER_STACK_BYTES = 1 << 20;
const MAX_THREADS = 64;

type Typed = Float32Array | Int32Array | Uint8Array;

/** A weight's copy in the wasm heap. */
interface CacheEntry {
  ptr: number;
  bytes: number;
  /** The source's buffer and byte range (adamwSegment drops overlapping entries). */
  buffer: ArrayBufferLike;
  begin: number;
  end: number;
  /** The source (weakly: the finalizer frees the copy once the source is collected). */
  key: WeakRef<object>;
}

function canShareMemory(): boolean {
  if (typeof SharedArrayBuffer === "undefined") return false;
  const g = globalThis as { crossOriginIsolated?: boolean; process?: unknown };
  // Node has no cross-origin isolation to ask about; a browser page needs it for workers to share memory
  return g.crossOriginIsolated !== false || g.process !== undefined;
}

/** Whether this thread may block in Atomics.wait / memory.atomic.wait32 (Node, or a worker). */
function mayBlock(): boolean {
  const g = globalThis as { process?: unknown; WorkerGlobalScope?: unknown };
  return g.process !== undefined || g.WorkerGlobalScope !== undefined;
}

/** Instantiates the module and returns the backend (await it: compiling is asynchronous in browsers). */
export async function createWasmBackend(opts: WasmBackendOptions): Promise<WasmBackend> {
  const source = !canShareMemory() && opts.singleThreadWasm !== undefined ? opts.singleThreadWasm : opts.wasm;
  const module = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source);
  const memory = newMemory(module, opts.maxMemoryBytes);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return wrapInstance(module, memory, instance, opts);
}

/**
 * The same, synchronously from a compiled module (Node, and browser workers; a browser's main
 * thread refuses synchronous instantiation of large modules).
 */
export function instantiateWasmBackend(module: WebAssembly.Module, opts: Omit<WasmBackendOptions, "wasm" | "singleThreadWasm"> = {}): WasmBackend {
  const memory = newMemory(module, opts.maxMemoryBytes);
  return wrapInstance(module, memory, new WebAssembly.Instance(module, { env: { memory } }), opts);
}

/** Whether a module is the threaded build (it imports shared memory and exports its TLS setup). */
function isThreaded(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.exports(module).some((e) => e.name === "__wasm_init_tls");
}

function newMemory(module: WebAssembly.Module, maxMemoryBytes: number | undefined): WebAssembly.Memory {
  const shared = isThreaded(module);
  if (shared && !canShareMemory()) {
    throw new Error("wasm backend: the threaded build needs shared memory (a cross-origin isolated page: COOP/COEP headers); pass singleThreadWasm (wasm/llama_ts_st.wasm) to run on one thread");
  }
  const maxPages = Math.min(MAX_PAGES, Math.max(INITIAL_PAGES, Math.floor((maxMemoryBytes ?? MAX_PAGES * 65536) / 65536)));
  return new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: maxPages, shared });
}

function wrapInstance(
  module: WebAssembly.Module, memory: WebAssembly.Memory, instance: WebAssembly.Instance, opts: Omit<WasmBackendOptions, "wasm">,
): WasmBackend {
  const backend = new WasmKernels(module, memory, instance.exports as unknown as Exports, isThreaded(module) ? opts.workerFactory : undefined);
  backend.setThreads(opts.threads ?? 1);
  return backend;
}

class WasmKernels implements WasmBackend {
  readonly name = "wasm" as const;
  private readonly x: Exports;
  private u8: Uint8Array;
  private f32: Float32Array;
  /** The operand area: one heap block reused by every call, grown on demand. */
  private area = 0;
  private areaBytes = 0;
  /** Next free byte of the operand area during a call. */
  private cursor = 0;
  /** 8 bytes for the double results (loss, sum of squares). */
  private readonly slot: number;
  private cache = new WeakMap<object, CacheEntry>();
  private readonly entries = new Set<CacheEntry>();
  private readonly finalizer = new FinalizationRegistry<CacheEntry>((e) => this.drop(e));
  private workers: WasmWorkerHandle[] = [];
  private pending: Array<() => void> = [];
  private online = 0;
  private size = 1;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    exports: Exports,
    private readonly workerFactory: WasmWorkerFactory | undefined,
  ) {
    this.x = exports;
    this.u8 = new Uint8Array(memory.buffer);
    this.f32 = new Float32Array(memory.buffer);
    this.x.lt_wasm_init();
    // a thread waiting for others sleeps now and then where it may block: not a browser's main thread
    if (mayBlock()) this.x.lt_wasm_allow_wait();
    // the calling thread's TLS block (scratch pointers), like a worker's (the single-thread build has no TLS)
    if (this.x.__wasm_init_tls) this.x.__wasm_init_tls(this.alloc(this.tlsBytes()));
    this.slot = this.alloc(8);
  }

  get threads(): number {
    return this.size;
  }

  get cachedBytes(): number {
    let s = 0;
    for (const e of this.entries) s += e.bytes;
    return s;
  }

  setThreads(n: number): void {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`wasm setThreads: n must be an integer >= 1, got ${n}`);
    const want = this.workerFactory ? Math.min(n, MAX_THREADS) : 1;
    while (this.workers.length < want - 1) this.startWorker(this.workers.length + 1);
    this.size = this.x.lt_wasm_set_threads(want);
  }

  ready(): Promise<void> {
    if (this.online >= this.workers.length) return Promise.resolve();
    // the workers do not keep a Node process alive (unref'd): a timer does while we wait for them
    const keepAlive = setInterval(() => undefined, 1000);
    return new Promise<void>((resolve) => this.pending.push(resolve)).finally(() => clearInterval(keepAlive));
  }

  dispose(): void {
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.size = this.x.lt_wasm_set_threads(1);
  }

  private tlsBytes(): number {
    return Math.max(64, Number(this.x.__tls_size?.value ?? 0));
  }

  private startWorker(tid: number): void {
    const stack = this.alloc(WORKER_STACK_BYTES);
    const tls = this.alloc(this.tlsBytes());
    const worker = this.workerFactory!((msg) => {
      if (msg === "ready") {
        this.online++;
        if (this.online >= this.workers.length) {
          const p = this.pending;
          this.pending = [];
          for (const r of p) r();
        }
      }
    });
    this.workers.push(worker);
    worker.postMessage({ module: this.module, memory: this.memory, tid, stackTop: stack + WORKER_STACK_BYTES, tls });
  }

  // ---- heap ----

  private alloc(bytes: number): number {
    const p = this.x.lt_wasm_malloc(Math.max(bytes, 1)) >>> 0;
    if (p === 0) throw new Error(`wasm backend: out of memory (${bytes} bytes)`);
    return p;
  }

  /** Views of the memory (a grown memory has a new, longer buffer). */
  private views(): void {
    if (this.u8.byteLength !== this.memory.buffer.byteLength) {
      this.u8 = new Uint8Array(this.memory.buffer);
      this.f32 = new Float32Array(this.memory.buffer);
    }
  }

  /** Starts a call needing `bytes` of operand area (the sum of the reserve() sizes it makes). */
  private begin(bytes: number): void {
    if (bytes > this.areaBytes) {
      if (this.area) this.x.lt_wasm_free(this.area);
      this.area = 0;
      this.areaBytes = 0;
      let size = 1 << 16;
      while (size < bytes) size *= 2;
      this.area = this.alloc(size);
      this.areaBytes = size;
    }
    this.views();
    this.cursor = this.area;
  }

  /** Reserves `n` elements' bytes (64-byte aligned) of the area; returns its address. */
  private reserve(bytes: number): number {
    const p = this.cursor;
    this.cursor += (bytes + 63) & ~63;
    return p;
  }

  /** Reserves and copies the first n elements of `a` in (asserting it has them). */
  private put(a: Typed, n: number, what: string): number {
    if (a.length < n) throw new RangeError(`wasm: ${what} has ${a.length} elements, the call reads ${n}`);
    const bytes = n * a.BYTES_PER_ELEMENT;
    const p = this.reserve(bytes);
    if (n > 0) this.u8.set(new Uint8Array(a.buffer, a.byteOffset, bytes), p);
    return p;
  }

  /** Reserves room for n floats that the call writes (asserting `a` can take them back). */
  private room(a: Float32Array, n: number, what: string): number {
    if (a.length < n) throw new RangeError(`wasm: ${what} has ${a.length} elements, the call writes ${n}`);
    return this.reserve(n * 4);
  }

  /** Copies n floats at p back into `a`. */
  private get(a: Float32Array, p: number, n: number): void {
    this.views();
    if (n > 0) a.set(this.f32.subarray(p >>> 2, (p >>> 2) + n));
  }

  private static bytes(...floats: number[]): number {
    let s = 0;
    for (const n of floats) s += ((n * 4 + 63) & ~63);
    return s;
  }

  private check(rc: number, op: string): void {
    if (rc !== 0) throw new Error(`wasm ${op}: out of memory`);
  }

  /** The cached heap copy of weight `key` (bytes `src`), copying it in on first use. */
  private cached(key: object, src: Uint8Array): number {
    const hit = this.cache.get(key);
    if (hit && hit.bytes === src.byteLength) return hit.ptr;
    if (hit) this.drop(hit);
    const ptr = this.alloc(src.byteLength);
    this.views();
    this.u8.set(src, ptr);
    const e: CacheEntry = { ptr, bytes: src.byteLength, buffer: src.buffer, begin: src.byteOffset, end: src.byteOffset + src.byteLength, key: new WeakRef(key) };
    this.cache.set(key, e);
    this.entries.add(e);
    this.finalizer.register(key, e, e);
    return ptr;
  }

  private drop(e: CacheEntry): void {
    if (!this.entries.delete(e)) return;
    this.finalizer.unregister(e);
    const key = e.key.deref();
    if (key !== undefined && this.cache.get(key) === e) this.cache.delete(key);
    this.x.lt_wasm_free(e.ptr);
  }

  invalidate(weight?: Float32Array | QuantMatrix): void {
    if (weight === undefined) {
      for (const e of [...this.entries]) this.drop(e);
      return;
    }
    const e = this.cache.get(weight);
    if (e) this.drop(e);
  }

  /** Drops the cached weights overlapping bytes [begin, end) of `buffer` (an in-place update). */
  private invalidateRange(buffer: ArrayBufferLike, begin: number, end: number): void {
    for (const e of [...this.entries]) if (e.buffer === buffer && e.begin < end && begin < e.end) this.drop(e);
  }

  // ---- the ops ----

  matmul(out: Float32Array, a: Float32Array, w: Float32Array, m: number, n: number, k: number): void {
    this.begin(WasmKernels.bytes(m * n, m * k, n * k));
    const po = this.room(out, m * n, "out"), pa = this.put(a, m * k, "a"), pw = this.put(w, n * k, "w");
    this.check(this.x.lt_wasm_matmul(po, pa, pw, m, n, k), "matmul");
    this.get(out, po, m * n);
  }

  matvec(out: Float32Array, w: Float32Array, x: Float32Array, n: number, k: number): void {
    if (w.length < n * k) throw new RangeError(`wasm: w has ${w.length} elements, the call reads ${n * k}`);
    const pw = this.cached(w, new Uint8Array(w.buffer, w.byteOffset, n * k * 4));
    this.begin(WasmKernels.bytes(n, k));
    const po = this.room(out, n, "out"), px = this.put(x, k, "x");
    this.x.lt_wasm_matvec(po, pw, px, n, k);
    this.get(out, po, n);
  }

  qmatmul(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void {
    const type = GGML_TYPE_ID[w.type];
    const n = w.rows, k = w.cols;
    const rb = this.x.lt_wasm_q_row_bytes(type, k) >>> 0;
    if (type === undefined || type === 0 || (rb === 0 && k > 0)) throw new RangeError(`wasm qmatmul: unsupported weight type ${String(w.type)} with ${k} columns`);
    if (w.data.length < n * rb) throw new RangeError(`wasm qmatmul: w.data has ${w.data.length} bytes, needs ${n * rb}`);
    const pw = this.cached(w, w.data.subarray(0, n * rb));
    this.begin(WasmKernels.bytes(m * n, m * k));
    const po = this.room(out, m * n, "out"), pa = this.put(a, m * k, "a");
    this.check(this.x.lt_wasm_qmatmul(po, pa, pw, type, m, n, k), "qmatmul");
    this.get(out, po, m * n);
  }

  /** One qmatmul per matrix (each operand copy is per call anyway; the weights stay cached). */
  qmatmulMany(outs: readonly Float32Array[], a: Float32Array, ws: readonly QuantMatrix[], m: number): void {
    ws.forEach((w, i) => this.qmatmul(outs[i]!, a, w, m));
  }

  rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void {
    this.begin(WasmKernels.bytes(rows * dim, rows * dim, dim));
    const po = this.room(out, rows * dim, "out"), px = this.put(x, rows * dim, "x"), pw = this.put(weight, dim, "weight");
    this.x.lt_wasm_rmsnorm(po, px, pw, rows, dim, eps);
    this.get(out, po, rows * dim);
  }

  rope(x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, cos: Float32Array, sin: Float32Array): void {
    const n = rows * nHeads * headDim, half = headDim >> 1;
    // only rows pos0 .. pos0+rows-1 of the tables are read: copy those, and pass a base that far back
    const t = rows * half;
    this.begin(WasmKernels.bytes(n, t, t));
    const px = this.put(x, n, "x");
    const pc = this.put(cos.subarray(Math.min(cos.length, pos0 * half)), t, "cos");
    const ps = this.put(sin.subarray(Math.min(sin.length, pos0 * half)), t, "sin");
    const back = pos0 * half * 4;
    this.x.lt_wasm_rope(px, rows, nHeads, headDim, pos0, (pc - back) | 0, (ps - back) | 0);
    this.get(x, px, n);
  }

  attention(
    out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
    rows: number, pos0: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void {
    const nq = rows * nHeads * headDim, nkv = rows > 0 ? (pos0 + rows) * nKvHeads * headDim : 0;
    this.begin(WasmKernels.bytes(nq, nq, nkv, nkv));
    const po = this.room(out, nq, "out"), pq = this.put(q, nq, "q"), pk = this.put(k, nkv, "k"), pv = this.put(v, nkv, "v");
    this.check(this.x.lt_wasm_attention(po, pq, pk, pv, rows, pos0, nHeads, nKvHeads, headDim), "attention");
    this.get(out, po, nq);
  }

  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    this.begin(WasmKernels.bytes(n, n, n));
    const po = this.room(out, n, "out"), pg = this.put(gate, n, "gate"), pu = this.put(up, n, "up");
    this.x.lt_wasm_swiglu(po, pg, pu, n);
    this.get(out, po, n);
  }

  addInPlace(x: Float32Array, y: Float32Array, n: number): void {
    this.begin(WasmKernels.bytes(n, n));
    const px = this.put(x, n, "x"), py = this.put(y, n, "y");
    this.x.lt_wasm_add(px, py, n);
    this.get(x, px, n);
  }

  private gemm(op: "matmulNN" | "matmulTN", out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    this.begin(WasmKernels.bytes(m * n, m * k, k * n));
    const po = accumulate ? this.put(out, m * n, "out") : this.room(out, m * n, "out");
    const pa = this.put(a, m * k, "a"), pb = this.put(b, k * n, "b");
    const f = op === "matmulNN" ? this.x.lt_wasm_matmul_nn : this.x.lt_wasm_matmul_tn;
    this.check(f(po, pa, pb, m, n, k, accumulate ? 1 : 0), op);
    this.get(out, po, m * n);
  }

  matmulNN(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    this.gemm("matmulNN", out, a, b, m, n, k, accumulate);
  }

  matmulTN(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    this.gemm("matmulTN", out, a, b, m, n, k, accumulate);
  }

  attentionTrainForward(
    out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void {
    const rows = batch * T, nq = rows * nHeads * headDim, nkv = rows * nKvHeads * headDim, nl = rows * nHeads;
    this.begin(WasmKernels.bytes(nq, nl, nq, nkv, nkv));
    const po = this.room(out, nq, "out"), pl = this.room(lse, nl, "lse");
    const pq = this.put(q, nq, "q"), pk = this.put(k, nkv, "k"), pv = this.put(v, nkv, "v");
    this.check(this.x.lt_wasm_attention_train_forward(po, pl, pq, pk, pv, batch, T, nHeads, nKvHeads, headDim), "attentionTrainForward");
    this.get(out, po, nq);
    this.get(lse, pl, nl);
  }

  attentionTrainBackward(
    dq: Float32Array, dk: Float32Array, dv: Float32Array, dOut: Float32Array,
    q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number, accumulate: boolean,
  ): void {
    const rows = batch * T, nq = rows * nHeads * headDim, nkv = rows * nKvHeads * headDim, nl = rows * nHeads;
    this.begin(WasmKernels.bytes(nq, nkv, nkv, nq, nq, nkv, nkv, nq, nl));
    const grad = (a: Float32Array, n: number, what: string) => (accumulate ? this.put(a, n, what) : this.room(a, n, what));
    const pdq = grad(dq, nq, "dq"), pdk = grad(dk, nkv, "dk"), pdv = grad(dv, nkv, "dv");
    const pdo = this.put(dOut, nq, "dOut"), pq = this.put(q, nq, "q"), pk = this.put(k, nkv, "k"), pv = this.put(v, nkv, "v");
    const pout = this.put(out, nq, "out"), pl = this.put(lse, nl, "lse");
    this.check(this.x.lt_wasm_attention_train_backward(
      pdq, pdk, pdv, pdo, pq, pk, pv, pout, pl, batch, T, nHeads, nKvHeads, headDim, accumulate ? 1 : 0,
    ), "attentionTrainBackward");
    this.get(dq, pdq, nq);
    this.get(dk, pdk, nkv);
    this.get(dv, pdv, nkv);
  }

  crossEntropy(logits: Float32Array, targets: Int32Array, rows: number, vocab: number, totalCount: number): number {
    for (let r = 0; r < rows; r++) {
      if (targets[r]! >= vocab) throw new RangeError(`crossEntropyForwardBackward: target ${targets[r]} at row ${r} is outside the vocabulary (${vocab})`);
    }
    this.begin(WasmKernels.bytes(rows * vocab, rows));
    const pl = this.put(logits, rows * vocab, "logits"), pt = this.put(targets, rows, "targets");
    this.check(this.x.lt_wasm_cross_entropy(pl, pt, rows, vocab, totalCount, this.slot), "crossEntropy");
    this.get(logits, pl, rows * vocab);
    return new Float64Array(this.memory.buffer, this.slot, 1)[0]!;
  }

  rmsnormStats(out: Float32Array, invRms: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void {
    const n = rows * dim;
    this.begin(WasmKernels.bytes(n, rows, n, dim));
    const po = this.room(out, n, "out"), pi = this.room(invRms, rows, "invRms"), px = this.put(x, n, "x"), pw = this.put(weight, dim, "weight");
    this.x.lt_wasm_rmsnorm_stats(po, pi, px, pw, rows, dim, eps);
    this.get(out, po, n);
    this.get(invRms, pi, rows);
  }

  rmsnormApply(out: Float32Array, x: Float32Array, weight: Float32Array, invRms: Float32Array, rows: number, dim: number): void {
    const n = rows * dim;
    this.begin(WasmKernels.bytes(n, n, dim, rows));
    const po = this.room(out, n, "out"), px = this.put(x, n, "x"), pw = this.put(weight, dim, "weight"), pi = this.put(invRms, rows, "invRms");
    this.x.lt_wasm_rmsnorm_apply(po, px, pw, pi, rows, dim);
    this.get(out, po, n);
  }

  rmsnormBackward(
    dx: Float32Array, dWeight: Float32Array | null, dOut: Float32Array, x: Float32Array, weight: Float32Array,
    invRms: Float32Array, rows: number, dim: number, accumulate: boolean,
  ): void {
    const n = rows * dim;
    this.begin(WasmKernels.bytes(n, dim, n, n, dim, rows));
    const pdx = accumulate ? this.put(dx, n, "dx") : this.room(dx, n, "dx");
    const pdw = dWeight ? this.put(dWeight, dim, "dWeight") : 0; // dWeight accumulates
    const pdo = this.put(dOut, n, "dOut"), px = this.put(x, n, "x"), pw = this.put(weight, dim, "weight"), pi = this.put(invRms, rows, "invRms");
    this.x.lt_wasm_rmsnorm_backward(pdx, pdw, pdo, px, pw, pi, rows, dim, accumulate ? 1 : 0);
    this.get(dx, pdx, n);
    if (dWeight) this.get(dWeight, pdw, dim);
  }

  swigluBackward(dGate: Float32Array, dUp: Float32Array, dOut: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    this.begin(WasmKernels.bytes(n, n, n, n, n));
    const pdg = this.room(dGate, n, "dGate"), pdu = this.room(dUp, n, "dUp");
    const pdo = this.put(dOut, n, "dOut"), pg = this.put(gate, n, "gate"), pu = this.put(up, n, "up");
    this.x.lt_wasm_swiglu_backward(pdg, pdu, pdo, pg, pu, n);
    this.get(dGate, pdg, n);
    this.get(dUp, pdu, n);
  }

  adamwSegment(
    params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, start: number, end: number,
    decayFactor: number, gradScale: number, beta1: number, beta2: number, eps: number, stepSize: number, bc2Sqrt: number,
  ): void {
    const n = end - start;
    if (!(n >= 0)) throw new RangeError(`wasm adamw: end (${end}) < start (${start})`);
    const seg = (a: Float32Array) => a.subarray(start, end);
    this.begin(WasmKernels.bytes(n, n, n, n));
    const pp = this.put(seg(params), n, "params"), pg = this.put(seg(grads), n, "grads");
    const pm = this.put(seg(m), n, "m"), pv = this.put(seg(v), n, "v");
    this.x.lt_wasm_adamw(pp, pg, pm, pv, n, decayFactor, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt);
    this.get(seg(params), pp, n);
    this.get(seg(m), pm, n);
    this.get(seg(v), pv, n);
    // the parameters changed in place: cached copies of any weight inside them are stale
    this.invalidateRange(params.buffer, params.byteOffset + start * 4, params.byteOffset + end * 4);
  }

  sumSquares(x: Float32Array, n: number): number {
    this.begin(WasmKernels.bytes(n));
    const px = this.put(x, n, "x");
    this.check(this.x.lt_wasm_sum_squares(px, n, this.slot), "sumSquares");
    this.views();
    return new Float64Array(this.memory.buffer, this.slot, 1)[0]!;
  }
}
