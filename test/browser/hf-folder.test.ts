/**
 * `loadModel` in the bundle from the files of a Hugging Face folder (as a page gets them from a
 * folder picker) gives the Node loader's model: same config, tokenizer ids, chat template and
 * bit-identical logits on the reference kernels, for a single-file f32 folder with
 * tokenizer.model, a sharded f16 folder (model.safetensors.index.json), a tied bf16 folder,
 * and a folder whose tokenizer is tokenizer.json + tokenizer_config.json (with a chat
 * template). A folder missing a shard is refused with the index's message.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { fixturesDir, repoRoot } from "../helpers.js";
import { evalModelDir } from "./fixture.js";
import { loadModel as loadModelNode } from "../../src/runtime/load.js";
import { KVCache } from "../../src/model/llama.js";
import { referenceBackend } from "../../src/kernels/reference-backend.js";
import { modelProtoToTokenizerJson } from "../../src/tokenizer/hf-write.js";
import { parseModelProto } from "../../src/tokenizer/model-proto.js";
import type * as BrowserApi from "../../src/browser/index.js";

const bundlePath = path.join(repoRoot, "dist", "browser", "llama-ts.js");
const skip = fs.existsSync(bundlePath) ? undefined : "dist/browser/llama-ts.js is not built (npm run build)";

/** The folder's files as a folder picker gives them: File objects with webkitRelativePath. */
function folderFiles(dir: string, leave: string[] = []): File[] {
  return fs.readdirSync(dir).filter((n) => !leave.includes(n)).map((n) => {
    const f = new File([fs.readFileSync(path.join(dir, n))], n);
    Object.defineProperty(f, "webkitRelativePath", { value: `${path.basename(dir)}/${n}` });
    return f;
  });
}

async function assertSameModel(lib: typeof BrowserApi, dir: string): Promise<void> {
  const want = await loadModelNode(dir, { backend: referenceBackend() });
  const got = await lib.loadModel(folderFiles(dir), { backend: "reference" });
  assert.equal(got.name, path.basename(dir));
  assert.equal(got.format, "hf");
  assert.deepEqual(got.config, want.config);
  assert.equal(got.chatTemplate, want.chatTemplate);
  assert.equal(got.tokenizer === undefined, want.tokenizer === undefined);
  const text = "Once upon a time, the little cat";
  const tokens = want.tokenizer ? want.tokenizer.encode(text, { bos: true }) : [1, 5, 9, 2, 7];
  if (want.tokenizer) assert.deepEqual(got.tokenizer!.encode(text, { bos: true }), tokens);
  const a = got.model.forward(tokens, new KVCache(got.config), true);
  const b = want.model.forward(tokens, new KVCache(want.config), true);
  assert.ok(a.length === b.length && a.every((v, i) => Object.is(v, b[i])), `${dir}: logits differ`);
}

test("loadModel(folder files) equals the Node folder loader: f32 + tokenizer.model, sharded f16, tied bf16", { skip }, async () => {
  const lib = (await import(pathToFileURL(bundlePath).href)) as typeof BrowserApi;
  for (const dir of [evalModelDir, path.join(fixturesDir, "models", "mqa-f16-sharded"), path.join(fixturesDir, "models", "tied-bf16")]) {
    await assertSameModel(lib, dir);
  }
  const sharded = path.join(fixturesDir, "models", "mqa-f16-sharded");
  await assert.rejects(
    lib.loadModel(folderFiles(sharded, ["model-00002-of-00002.safetensors"])),
    (e: unknown) => e instanceof lib.UserError && /in shard "?model-00002-of-00002\.safetensors"?, which does not exist/.test(e.message),
  );
});

test("loadModel(folder files) with tokenizer.json and tokenizer_config.json equals the Node loader", { skip }, async () => {
  const lib = (await import(pathToFileURL(bundlePath).href)) as typeof BrowserApi;
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-hf-")), "json-tok");
  fs.mkdirSync(dir);
  try {
    for (const f of ["config.json", "model.safetensors"]) fs.copyFileSync(path.join(evalModelDir, f), path.join(dir, f));
    const proto = parseModelProto(fs.readFileSync(path.join(evalModelDir, "tokenizer.model")));
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(modelProtoToTokenizerJson(proto)));
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<s>", eos_token: "</s>", chat_template: "{% for m in messages %}{{ m.content }}{% endfor %}" }));
    await assertSameModel(lib, dir);
    const lm = await lib.loadModel(folderFiles(dir), { backend: "reference" });
    assert.equal(lm.chatTemplate, "{% for m in messages %}{{ m.content }}{% endfor %}");
    assert.ok(lm.tokenizer instanceof lib.HfTokenizer, "the tokenizer comes from tokenizer.json");
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
