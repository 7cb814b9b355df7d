/**
 * The native backend against the reference kernels: the conformance suite (conformance.ts: every
 * op, on odd sizes and on sizes that reach the blocked and threaded paths, subarray views, bad
 * arguments) on every instruction set this CPU has (switched with setIsa; one child process
 * checks LLAMA_TS_ISA), with 1 and 2 threads; swiglu at the exp argument's extremes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { swiglu } from "../../src/kernels/ops/swiglu.js";
import type { Isa } from "../../src/kernels/native.js";
import { backendConformance, backendRejectsBadArguments } from "./conformance.js";
import { isas, native, SKIP, testEveryConfig, withConfig } from "./native-helpers.js";

testEveryConfig("native kernels equal the reference", (be, tag) => backendConformance(be, tag));

test("native kernels reject bad sizes and arrays before touching memory", { skip: SKIP }, () => {
  const be = native!;
  backendRejectsBadArguments(be);
  assert.throws(() => be.setIsa("sse9" as Isa), /native setIsa:/);
});

test("native swiglu is right element by element at the exp argument's extremes", { skip: SKIP }, () => {
  const be = native!;
  const gate = new Float32Array([-1000, -100, -88.8, -88.3, -87.4, -50, -20, -1e-8, 0, 1e-8, 20, 50, 87.4, 88.3, 88.8, 100, 1000, -3, 3, 0.5]);
  const up = new Float32Array(gate.length).map((_, i) => (i % 3) - 1.25);
  const n = gate.length;
  const want = new Float32Array(n);
  swiglu(want, gate, up, n);
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
