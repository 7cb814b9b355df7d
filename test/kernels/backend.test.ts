/**
 * The backend registry (src/kernels/backend.ts): LLAMA_TS_BACKEND picks a registered backend by
 * name, an unknown name is an error listing the registered ones, and a backend registered from
 * outside (as the WebAssembly one will be) is chosen the same way, checked like the others.
 * Each case runs in a child process, since the choice is made once per process.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { checked } from "../../src/kernels/checked.js";
import { referenceOps } from "../../src/kernels/ops/index.js";

const kernelsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "kernels");
const url = (f: string): string => JSON.stringify(path.join(kernelsDir, f));

/** Runs `body` (an async function body with `b` = backend.js, `c` = checked.js, `o` = ops/index.js) under LLAMA_TS_BACKEND. */
function run(backend: string, body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `Promise.all([import(${url("backend.js")}), import(${url("checked.js")}), import(${url("ops/index.js")})])` +
    `.then(async ([b, c, o]) => { ${body} }).catch((e) => { console.log("ERROR " + e.message); });`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, LLAMA_TS_BACKEND: backend }, encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

test("LLAMA_TS_BACKEND=reference picks the reference backend", () => {
  const r = run("reference", "console.log(b.getBackend().name);");
  assert.equal(r.stdout, "reference", r.stderr);
});

test("an unknown LLAMA_TS_BACKEND is an error naming every registered backend", () => {
  const r = run("gpu9000", "b.getBackend();");
  assert.equal(r.stdout, 'ERROR LLAMA_TS_BACKEND must be one of "native", "reference", "wasm", got "gpu9000"', r.stderr);
});

test("a backend registered from outside is selected by name, with every op checked", () => {
  const body = [
    'b.registerBackend("toy", () => ({ backend: c.checked({ name: "toy", threads: 1, setThreads() {}, ...o.referenceOps() }) }));',
    "const be = b.getBackend();",
    "const out = new Float32Array(4);",
    "be.matmul(out, new Float32Array([1, 2]), new Float32Array([3, 4, 5, 6]), 1, 2, 2);",
    "console.log(be.name, [...out.subarray(0, 2)].join(','));",
    "be.matmul(out, new Float32Array(2), new Float32Array(3), 1, 2, 2);",
  ].join("\n");
  const r = run("toy", body);
  assert.equal(r.stdout, "toy 11,17\nERROR toy matmul: w has 3 elements, needs n·k = 4", r.stderr);
});

test("checked() forwards what the raw backend keeps (a class instance's state, getters, methods) to it", () => {
  class Raw {
    readonly name = "raw";
    threads = 1;
    calls = 0;
    setThreads(n: number): void { this.threads = n; }
    get busy(): boolean { return this.calls > 0; }
  }
  const ops = referenceOps();
  const raw = Object.assign(new Raw(), ops, { addInPlace: (x: Float32Array, y: Float32Array, n: number) => { raw.calls++; ops.addInPlace(x, y, n); } });
  const be = checked(raw);
  be.setThreads(3);
  assert.equal(be.threads, 3);
  const x = new Float32Array([1, 2]);
  be.addInPlace(x, new Float32Array([3, 4]), 2);
  assert.deepEqual([...x], [4, 6]);
  assert.equal((be as unknown as Raw).busy, true);
  assert.throws(() => be.setThreads(0), /^RangeError: raw setThreads: n must be an integer >= 1, got 0$/);
  assert.throws(() => be.addInPlace(x, new Float32Array(1), 2), /^RangeError: raw addInPlace: y has 1 elements, needs n = 2$/);
});
