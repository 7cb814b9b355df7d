/**
 * The browser bundle (dist/browser/llama-ts.js) as a plain ES module, in Node:
 * - it is self-contained: no import or require of anything (a Node built-in, a bare package
 *   name) survives in it, and the build refuses an entry that reaches a Node built-in, naming
 *   the importing file;
 * - `loadModel` from bytes (ArrayBuffer, Uint8Array, Blob/File) gives the same model as the
 *   Node file loader: same config and tokenizer ids, and bit-identical logits on the same
 *   (reference) kernels, for an f32 and a q8_0 GGUF whose q/k are scaled so that attention
 *   matters;
 * - the bundle's greedy `generate` equals the Node library's on that model;
 * - `ggufModelBytes` in the bundle writes the same bytes as `saveGguf` does to a file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../helpers.js";
import { writeTestGguf } from "./fixture.js";
import { loadModel as loadModelNode } from "../../src/runtime/load.js";
import { generate as generateNode } from "../../src/generate/generate.js";
import { KVCache } from "../../src/model/llama.js";
import { referenceBackend } from "../../src/kernels/reference-backend.js";
import type * as BrowserApi from "../../src/browser/index.js";

const bundlePath = path.join(repoRoot, "dist", "browser", "llama-ts.js");
const buildScript = path.join(repoRoot, "scripts", "build-browser.mjs");
const skip = fs.existsSync(bundlePath) ? undefined : "dist/browser/llama-ts.js is not built (npm run build)";

async function bundle(): Promise<typeof BrowserApi> {
  return (await import(pathToFileURL(bundlePath).href)) as typeof BrowserApi;
}

test("the bundle imports nothing: no Node built-in, no bare package, no require", { skip }, () => {
  const code = fs.readFileSync(bundlePath, "utf8");
  const imports = [...code.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/gm)].map((m) => m[1]);
  assert.deepEqual(imports, [], "static imports left in the bundle");
  assert.doesNotMatch(code, /\bimport\s*\(\s*["'](node:|fs|path|os)/, "dynamic import of a Node module");
  assert.doesNotMatch(code, /\brequire\s*\(/, "require() in the bundle");
  assert.doesNotMatch(code, /\bprocess\.(env|stdout|stderr|exit)/, "process.* in the bundle");
});

test("the browser build fails, naming the importer, when its entry reaches a Node built-in", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bundle-"));
  try {
    const direct = path.join(dir, "direct.ts");
    fs.writeFileSync(direct, 'import fs from "node:fs";\nexport const n = fs.constants.O_RDONLY;\n');
    // A Node-only module of the library (safetensors reads files by path) reached through an import.
    const indirect = path.join(dir, "indirect.ts");
    fs.writeFileSync(indirect, `export { openSafetensors } from ${JSON.stringify(path.join(repoRoot, "src", "formats", "safetensors.ts"))};\n`);
    for (const [entry, importer] of [[direct, "direct.ts"], [indirect, "src/formats/safetensors.ts"]] as const) {
      const r = spawnSync(process.execPath, [buildScript, "--check", "--entry", entry], { encoding: "utf8" });
      assert.equal(r.status, 1, `build of ${path.basename(entry)} should fail: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /reaches the Node built-in "(node:)?(fs|path)"/);
      assert.ok(r.stderr.includes(importer), r.stderr);
    }
    // The real entry passes the same check.
    const ok = spawnSync(process.execPath, [buildScript, "--check"], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const type of ["f32", "q8_0"] as const) {
  test(`loadModel from bytes equals the Node file loader (${type} GGUF): config, tokenizer, logits, greedy tokens; ggufModelBytes`, { skip }, async () => {
    const lib = await bundle();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bundle-"));
    try {
      const file = path.join(dir, `tiny-${type}.gguf`);
      const inputs = writeTestGguf(file, type);
      const bytes = fs.readFileSync(file);
      const inMemory = lib.ggufModelBytes(inputs.config, inputs.params, { type, tokenizer: inputs.tokenizer });
      assert.ok(Buffer.from(inMemory).equals(bytes), "ggufModelBytes differs from the file saveGguf wrote");
      const fromFile = await loadModelNode(file, { backend: referenceBackend() });
      const arrayBuffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
      const sources: [string, BrowserApi.ModelSource][] = [
        ["ArrayBuffer", arrayBuffer],
        ["Uint8Array", new Uint8Array(bytes)],
        ["File", new File([bytes], `tiny-${type}.gguf`)],
      ];
      const tokens = fromFile.tokenizer!.encode("Once upon a time, a little", { bos: true });
      const cache = new KVCache(fromFile.config);
      const want = fromFile.model.forward(tokens, cache, true);
      for (const [what, source] of sources) {
        const lm = await lib.loadModel(source, { name: `tiny-${type}.gguf`, backend: "reference" });
        assert.equal(lm.name, `tiny-${type}`, what);
        assert.equal(lm.format, "gguf", what);
        assert.deepEqual(lm.config, fromFile.config, what);
        assert.deepEqual(lm.tokenizer!.encode("Once upon a time, a little", { bos: true }), tokens, what);
        const got = lm.model.forward(tokens, new lib.KVCache(lm.config), true);
        assert.equal(got.length, want.length, what);
        assert.ok(got.every((v, i) => Object.is(v, want[i])), `${what}: logits differ from the file loader's`);
      }
      const lm = await lib.loadModel(arrayBuffer, { name: "t.gguf", backend: "reference" });
      const req = { tokens, maxTokens: 12, temperature: 0, ignoreEos: true };
      const a = await lib.generate(lm, req);
      const b = await generateNode(fromFile, req);
      assert.deepEqual(a.tokens, b.tokens);
      assert.equal(a.tokens.length, 12);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
