/**
 * The native backend against the reference kernels: every kernel, on odd sizes and on sizes that
 * reach the blocked and threaded paths, on every instruction set this CPU has (switched with
 * setIsa; one child process checks LLAMA_TS_ISA), with 1 and 2 threads; subarray views; bad
 * arguments throw before anything is read or written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import * as ref from "../../src/kernels/reference.js";
import type { Isa } from "../../src/kernels/native.js";
import { assertClose, randomArray } from "../helpers.js";
import { isas, native, SKIP, testEveryConfig, withConfig } from "./native-helpers.js";
import { cases, copy, ropeTables } from "./kernel-cases.js";

const TOL = 1e-5;

testEveryConfig("native kernels equal the reference", (be, tag) => {
  for (const c of cases) assertClose(c.actual(be), c.expected(), TOL, `${c.name} ${tag}`);
});

test("native swiglu is right element by element at the exp argument's extremes", { skip: SKIP }, () => {
  const be = native!;
  const gate = new Float32Array([-1000, -100, -88.8, -88.3, -87.4, -50, -20, -1e-8, 0, 1e-8, 20, 50, 87.4, 88.3, 88.8, 100, 1000, -3, 3, 0.5]);
  const up = new Float32Array(gate.length).map((_, i) => (i % 3) - 1.25);
  const n = gate.length;
  const want = new Float32Array(n);
  ref.swiglu(want, gate, up, n);
  for (const isa of isas) {
    withConfig(be, isa, 1, () => {
      const out = new Float32Array(n);
      be.swiglu(out, gate, up, n);
      for (let i = 0; i < n; i++) {
        const err = Math.abs(out[i]! - want[i]!);
        assert.ok(err <= 1e-6 * Math.abs(want[i]!) + 1e-30, `swiglu(${gate[i]}) [${isa}]: got ${out[i]}, want ${want[i]}`);
      }
    });
  }
});

test("native matmul: k = 0 gives zeros; m = 0 or n = 0 touches nothing", { skip: SKIP }, () => {
  const be = native!;
  const out = new Float32Array(6).fill(7);
  be.matmul(out, new Float32Array(0), new Float32Array(0), 2, 3, 0);
  assert.deepEqual([...out], [0, 0, 0, 0, 0, 0]);
  const keep = new Float32Array(4).fill(7);
  be.matmul(keep, new Float32Array(0), new Float32Array(9), 0, 3, 3);
  be.matvec(keep, new Float32Array(0), new Float32Array(3), 0, 3);
  assert.deepEqual([...keep], [7, 7, 7, 7]);
});

test("native kernels accept subarray views and write only inside them", { skip: SKIP }, () => {
  const be = native!;
  /** a view of `src` at an odd offset inside a larger buffer filled with a guard value */
  const view = (src: Float32Array, guard = 12345): { view: Float32Array; whole: Float32Array } => {
    const whole = new Float32Array(src.length + 10).fill(guard);
    const v = whole.subarray(3, 3 + src.length);
    v.set(src);
    return { view: v, whole };
  };
  const guardOk = (whole: Float32Array, len: number, what: string): void => {
    for (let i = 0; i < 3; i++) assert.equal(whole[i], 12345, `${what}: wrote before the view`);
    for (let i = 3 + len; i < whole.length; i++) assert.equal(whole[i], 12345, `${what}: wrote past the view`);
  };
  for (const isa of isas) {
    for (const threads of [1, 2]) {
      withConfig(be, isa, threads, () => {
        const tag = `[${isa}, ${threads}T]`;
        for (const [m, n, k] of [[37, 53, 71], [3, 29, 19], [129, 257, 300]] as const) {
          const a = randomArray(m * k, 81), w = randomArray(n * k, 82);
          const want = new Float32Array(m * n);
          ref.matmul(want, a, w, m, n, k);
          const A = view(a), W = view(w), O = view(new Float32Array(m * n));
          be.matmul(O.view, A.view, W.view, m, n, k);
          assertClose(O.view, want, TOL, `matmul view ${m}x${n}x${k} ${tag}`);
          guardOk(O.whole, m * n, "matmul");
        }
        {
          const n = 77, k = 45;
          const w = randomArray(n * k, 83), x = randomArray(k, 84);
          const want = new Float32Array(n);
          ref.matvec(want, w, x, n, k);
          const W = view(w), X = view(x), O = view(new Float32Array(n));
          be.matvec(O.view, W.view, X.view, n, k);
          assertClose(O.view, want, TOL, `matvec view ${tag}`);
          guardOk(O.whole, n, "matvec");
        }
        {
          const rows = 3, dim = 37;
          const x = randomArray(rows * dim, 85), wt = randomArray(dim, 86);
          const want = new Float32Array(rows * dim);
          ref.rmsnorm(want, x, wt, rows, dim, 1e-6);
          const X = view(x), Wt = view(wt), O = view(new Float32Array(rows * dim));
          be.rmsnorm(O.view, X.view, Wt.view, rows, dim, 1e-6);
          assertClose(O.view, want, TOL, `rmsnorm view ${tag}`);
          guardOk(O.whole, rows * dim, "rmsnorm");
          // in place (out === x) is allowed
          const inPlace = copy(x);
          be.rmsnorm(inPlace, inPlace, wt, rows, dim, 1e-6);
          assertClose(inPlace, want, TOL, `rmsnorm in place ${tag}`);
        }
        {
          const rows = 2, heads = 3, hd = 10, pos0 = 4;
          const x = randomArray(rows * heads * hd, 87);
          const { cos, sin } = ropeTables(pos0 + rows, hd);
          const want = copy(x);
          ref.rope(want, rows, heads, hd, pos0, cos, sin);
          const X = view(x), C = view(cos), S = view(sin);
          be.rope(X.view, rows, heads, hd, pos0, C.view, S.view);
          assertClose(X.view, want, TOL, `rope view ${tag}`);
          guardOk(X.whole, x.length, "rope");
        }
        {
          const rows = 3, pos0 = 2, heads = 4, kv = 2, hd = 12;
          const q = randomArray(rows * heads * hd, 88), k = randomArray((pos0 + rows) * kv * hd, 89), v = randomArray((pos0 + rows) * kv * hd, 90);
          const want = new Float32Array(rows * heads * hd);
          ref.attention(want, q, k, v, rows, pos0, heads, kv, hd);
          const Q = view(q), K = view(k), V = view(v), O = view(new Float32Array(want.length));
          be.attention(O.view, Q.view, K.view, V.view, rows, pos0, heads, kv, hd);
          assertClose(O.view, want, TOL, `attention view ${tag}`);
          guardOk(O.whole, want.length, "attention");
        }
        {
          const n = 53;
          const g = randomArray(n, 91, 5), u = randomArray(n, 92);
          const want = new Float32Array(n);
          ref.swiglu(want, g, u, n);
          const G = view(g), U = view(u), O = view(new Float32Array(n));
          be.swiglu(O.view, G.view, U.view, n);
          assertClose(O.view, want, TOL, `swiglu view ${tag}`);
          guardOk(O.whole, n, "swiglu");
          const X = view(g), Y = view(u);
          const sum = copy(g);
          ref.addInPlace(sum, u, n);
          be.addInPlace(X.view, Y.view, n);
          assertClose(X.view, sum, TOL, `addInPlace view ${tag}`);
          guardOk(X.whole, n, "addInPlace");
        }
      });
    }
  }
});

test("native kernels reject bad sizes and arrays before touching memory", { skip: SKIP }, () => {
  const be = native!;
  const f = (n: number): Float32Array => new Float32Array(n);
  const bad = (what: string, fn: () => void): void => {
    assert.throws(fn, (e: unknown) => e instanceof Error && /native \w+:/.test(e.message), what);
  };
  // matmul: 2x3 · (4x3)ᵀ needs out 8, a 6, w 12
  bad("short out", () => be.matmul(f(7), f(6), f(12), 2, 4, 3));
  bad("short a", () => be.matmul(f(8), f(5), f(12), 2, 4, 3));
  bad("short w", () => be.matmul(f(8), f(6), f(11), 2, 4, 3));
  bad("fractional m", () => be.matmul(f(8), f(6), f(12), 1.5, 4, 3));
  bad("negative n", () => be.matmul(f(8), f(6), f(12), 2, -4, 3));
  bad("NaN k", () => be.matmul(f(8), f(6), f(12), 2, 4, NaN));
  bad("huge k", () => be.matmul(f(8), f(6), f(12), 2, 4, 2 ** 60));
  bad("Float64Array", () => be.matmul(new Float64Array(8) as unknown as Float32Array, f(6), f(12), 2, 4, 3));
  bad("short view", () => be.matmul(f(100).subarray(95), f(6), f(12), 2, 4, 3));
  bad("matvec short x", () => be.matvec(f(4), f(12), f(2), 4, 3));
  bad("matvec short w", () => be.matvec(f(4), f(11), f(3), 4, 3));
  bad("rmsnorm short weight", () => be.rmsnorm(f(6), f(6), f(2), 2, 3, 1e-5));
  bad("rmsnorm negative eps", () => be.rmsnorm(f(6), f(6), f(3), 2, 3, -1));
  bad("rope odd headDim", () => be.rope(f(6), 1, 2, 3, 0, f(10), f(10)));
  bad("rope short table", () => be.rope(f(8), 1, 2, 4, 4, f(9), f(10)));
  bad("attention heads not a multiple of kv heads", () => be.attention(f(12), f(12), f(8), f(8), 1, 0, 3, 2, 4));
  bad("attention zero kv heads", () => be.attention(f(12), f(12), f(8), f(8), 1, 0, 3, 0, 4));
  bad("attention short cache", () => be.attention(f(16), f(16), f(15), f(16), 2, 0, 2, 2, 4));
  bad("swiglu short up", () => be.swiglu(f(5), f(5), f(4), 5));
  bad("addInPlace short y", () => be.addInPlace(f(5), f(4), 5));
  bad("setThreads 0", () => be.setThreads(0));
  bad("setIsa unknown", () => be.setIsa("sse9" as Isa));
  // nothing was written by the rejected calls
  const out = f(8).fill(3);
  bad("short w, out kept", () => be.matmul(out, f(6), f(11), 2, 4, 3));
  assert.deepEqual([...out], new Array(8).fill(3));
});

test("LLAMA_TS_ISA forces the instruction set at load, and a bad value is a load error", { skip: SKIP }, () => {
  const nativeJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "kernels", "native.js");
  const script = `import(${JSON.stringify(nativeJs)}).then((m) => { const r = m.loadNativeBackend(); console.log(JSON.stringify(r.backend ? { isa: r.backend.isa } : { error: r.error })); })`;
  const run = (isa: string): { isa?: string; error?: string } => {
    const r = spawnSync(process.execPath, ["-e", script], { env: { ...process.env, LLAMA_TS_ISA: isa }, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim()) as { isa?: string; error?: string };
  };
  for (const isa of isas) assert.deepEqual(run(isa), { isa });
  const badRun = run("avx9000");
  assert.match(badRun.error ?? "", /LLAMA_TS_ISA/);
});
