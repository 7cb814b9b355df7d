/**
 * The generation session against independent references: greedy tokens from the PyTorch
 * fixtures, log-probabilities against a plain full forward pass + log_softmax, batching
 * invariance (a request's tokens do not depend on what else is in the batch), stop strings
 * split across tokens, cancellation, and an event loop that keeps running while it decodes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModel, loadModelSync, float32Params } from "../../src/runtime/load.js";
import { GenerationSession, QueueFullError, RequestError } from "../../src/generate/session.js";
import { generate } from "../../src/generate/generate.js";
import { StopMatcher } from "../../src/generate/stop.js";
import { adjustLogits } from "../../src/generate/sampler.js";
import { saveAnyModel } from "../../src/formats/convert.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/tokenizer.js";
import { fixturesDir } from "../helpers.js";

const evalModel = path.join(fixturesDir, "eval", "model");

interface Expected {
  tokens: number[];
  logits: number[][];
  greedy_prompt: number[];
  greedy_tokens: number[];
}

for (const name of ["gqa-f32", "tied-bf16"]) {
  test(`${name}: session greedy tokens equal PyTorch's (alone and in a batch of 16)`, async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(fixturesDir, "models", `${name}.expected.json`), "utf8")) as Expected;
    const lm = await loadModel(path.join(fixturesDir, "models", name));
    const session = new GenerationSession(lm, { parallel: 16 });
    const opts = { maxTokens: expected.greedy_tokens.length, temperature: 0, ignoreEos: true };
    const alone = await session.generate(expected.greedy_prompt, opts);
    assert.deepEqual(alone.tokens, expected.greedy_tokens);
    // 16 requests at once: different prompt lengths so prefill and decode rows mix in one step.
    const prompts = Array.from({ length: 16 }, (_, i) => (i === 5 ? expected.greedy_prompt : expected.tokens.slice(0, 2 + (i % 7))));
    const together = await Promise.all(prompts.map((p) => session.generate(p, opts)));
    assert.deepEqual(together[5]!.tokens, expected.greedy_tokens);
    for (let i = 0; i < prompts.length; i++) {
      const single = await new GenerationSession(lm, { parallel: 1 }).generate(prompts[i]!, opts);
      assert.deepEqual(together[i]!.tokens, single.tokens, `request ${i}`);
    }
  });
}

test("seeded sampling gives the same tokens alone and batched, and generateSync agrees", async () => {
  const lm = await loadModel(evalModel);
  const session = new GenerationSession(lm, { parallel: 8, prefillChunk: 3 });
  const prompts = ["The cat sat on", "Once upon a time", "A", "In the beginning was the word and"];
  const opts = (i: number) => ({ maxTokens: 12, temperature: 0.9, topP: 0.95, topK: 50, seed: 100 + i, ignoreEos: true });
  const batched = await Promise.all(prompts.map((p, i) => session.generate(p, opts(i))));
  prompts.forEach((p, i) => {
    const sync = new GenerationSession(lm, { parallel: 1 }).generateSync(p, opts(i));
    assert.deepEqual(batched[i]!.tokens, sync.tokens);
    assert.equal(batched[i]!.text, sync.text);
  });
  // different seeds really sample differently
  assert.notDeepEqual(batched[0]!.tokens, (await session.generate(prompts[0]!, opts(7))).tokens);
});

test("prompt and token log-probabilities equal log_softmax of a full forward pass", async () => {
  const lm = await loadModel(evalModel);
  const session = new GenerationSession(lm, { parallel: 2, prefillChunk: 4 });
  const prompt = lm.tokenizer!.encode("the quick brown fox jumps over the lazy dog", { bos: true });
  const r = await session.generate(prompt, { maxTokens: 3, temperature: 0, promptLogprobs: 5, logprobs: 5, ignoreEos: true });
  const all = prompt.concat(r.tokens);
  // Independent path: one forward over everything, log_softmax in float64.
  const V = lm.config.vocabSize;
  const logits = lm.model.forward(all, lm.model.newCache(all.length), true);
  const logSoftmax = (row: number): Float64Array => {
    const x = logits.subarray(row * V, (row + 1) * V);
    let m = -Infinity;
    for (const v of x) m = Math.max(m, v);
    let s = 0;
    for (const v of x) s += Math.exp(v - m);
    return Float64Array.from(x, (v) => v - m - Math.log(s));
  };
  assert.equal(r.promptLogprobs!.length, prompt.length - 1);
  r.promptLogprobs!.forEach((lp, i) => {
    const ls = logSoftmax(i);
    assert.equal(lp.token, prompt[i + 1]);
    assert.ok(Math.abs(lp.logprob - ls[prompt[i + 1]!]!) < 1e-4, `prompt position ${i + 1}`);
    const best = [...ls.keys()].sort((a, b) => ls[b]! - ls[a]!).slice(0, 5);
    assert.deepEqual(lp.top.map((t) => t.token), best);
  });
  r.logprobs!.forEach((lp, j) => {
    const ls = logSoftmax(prompt.length - 1 + j);
    assert.ok(Math.abs(lp.logprob - ls[r.tokens[j]!]!) < 1e-4);
    assert.equal(lp.top[0]!.token, r.tokens[j]); // greedy: the chosen token is the most likely
  });
  // The pieces of the prompt concatenate to its text (first token BOS: no entry).
  assert.equal(r.promptLogprobs!.map((l) => l.textPiece).join(""), lm.tokenizer!.decode(prompt));
  // max_tokens 0 with prompt scoring: the same numbers, nothing generated
  const zero = await session.generate(prompt, { maxTokens: 0, promptLogprobs: 1 });
  assert.deepEqual(zero.tokens, []);
  assert.deepEqual(zero.promptLogprobs!.map((l) => l.logprob), r.promptLogprobs!.map((l) => l.logprob));
});

test("stop strings end generation before them, even when split across tokens", async () => {
  const lm = await loadModel(evalModel);
  const session = new GenerationSession(lm, { parallel: 1 });
  const base = await session.generate("Once upon a time", { maxTokens: 40, temperature: 0, ignoreEos: true });
  const tok = lm.tokenizer!;
  // A stop string that straddles the boundary between two generated tokens.
  const prompt = tok.encode("Once upon a time", { bos: true });
  const dec = tok.decodeStream();
  for (const id of prompt) dec.push(id);
  const pieces = base.tokens.map((id) => dec.push(id));
  let at = 0;
  let k = 3;
  while (k < pieces.length - 1 && (pieces[k]!.length < 2 || pieces[k + 1]!.length < 1)) k++;
  for (let i = 0; i < k; i++) at += pieces[i]!.length;
  const stop = pieces[k]!.slice(-2) + pieces[k + 1]!.slice(0, 1);
  const cut = base.text.indexOf(stop);
  assert.ok(cut >= 0 && cut <= at + pieces[k]!.length);
  const chunks: string[] = [];
  const it = session.stream("Once upon a time", { maxTokens: 40, temperature: 0, ignoreEos: true, stop: ["zzzz-never", stop] });
  let res;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      res = r.value;
      break;
    }
    chunks.push(r.value.text);
  }
  assert.equal(res.stopReason, "stop");
  assert.equal(res.text, base.text.slice(0, cut));
  assert.equal(chunks.join(""), res.text);
  assert.ok(!chunks.join("").includes(stop));
});

test("StopMatcher holds back only what could start a stop string", () => {
  const m = new StopMatcher(["</s>", "\nUser:"]);
  assert.equal(m.push("Hello <"), "Hello ");
  assert.equal(m.push("b> x\nU"), "<b> x");
  assert.equal(m.push("se"), "");
  assert.equal(m.push("r:"), "");
  assert.equal(m.stopped, true);
  const n = new StopMatcher(["abc"]);
  assert.equal(n.push("xab"), "x");
  assert.equal(n.flush(), "ab");
});

test("logit bias and penalties follow their formulas", () => {
  const l = Float32Array.from([2, -1, 0.5, 3]);
  adjustLogits(l, { logitBias: { 0: -1 }, repetitionPenalty: 2, frequencyPenalty: 0.5, presencePenalty: 0.25 }, [1, 3, 3], new Map([[3, 2]]));
  // id 0: 2 - 1 = 1; id 1: -1 * 2 = -2 (seen); id 2 unchanged; id 3: 3 / 2 - 0.5 * 2 - 0.25 = 0.25
  assert.deepEqual(Array.from(l), [1, -2, 0.5, 0.25]);
});

test("logit bias of -100 bans a token under greedy decoding", async () => {
  const lm = await loadModel(evalModel);
  const s = new GenerationSession(lm);
  const a = await s.generate("Once upon a time", { maxTokens: 5, temperature: 0, ignoreEos: true });
  const b = await s.generate("Once upon a time", { maxTokens: 5, temperature: 0, ignoreEos: true, logitBias: { [a.tokens[0]!]: -100 } });
  assert.notEqual(b.tokens[0], a.tokens[0]);
});

test("cancelling frees the slot; the event loop runs while decoding; a full queue refuses", async () => {
  const lm = await loadModel(evalModel);
  const session = new GenerationSession(lm, { parallel: 1, maxQueue: 1 });
  const ac = new AbortController();
  let n = 0;
  let firedAt: number | undefined;
  const timer = setTimeout(() => (firedAt = n), 5);
  const it = session.stream("Once upon a time", { maxTokens: 400, temperature: 0, ignoreEos: true, signal: ac.signal });
  const queued = session.stream("Hello", { maxTokens: 2, temperature: 0 });
  assert.throws(() => session.stream("Hi", { maxTokens: 2 }), QueueFullError);
  let result;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      result = r.value;
      break;
    }
    n += r.value.tokens.length;
    if (n === 200) ac.abort();
  }
  clearTimeout(timer);
  assert.equal(result.stopReason, "aborted");
  assert.ok(result.tokens.length >= 200 && result.tokens.length < 400);
  assert.ok(firedAt !== undefined && firedAt < 200, `a 5 ms timer fired after ${firedAt} tokens of 200`);
  const q = await (async () => {
    for (;;) {
      const r = await queued.next();
      if (r.done) return r.value;
    }
  })();
  assert.equal(q.tokens.length, 2);
  assert.equal(session.stats().active, 0);
  assert.equal(session.stats().queued, 0);
});

test("bad requests are refused before they run", async () => {
  const lm = await loadModel(evalModel);
  const s = new GenerationSession(lm, { contextLength: 16 });
  assert.throws(() => s.stream([1, 99999]), (e: unknown) => e instanceof RequestError && /outside the vocabulary/.test(e.message));
  assert.throws(() => s.stream(Array(17).fill(5) as number[]), (e: unknown) => e instanceof RequestError && /context length 16/.test(e.message));
  assert.throws(() => s.stream("x", { temperature: -1 }), (e: unknown) => e instanceof RequestError && e.param === "temperature");
  assert.throws(() => s.stream("x", { logprobs: 21 }), RequestError);
  const full = await s.generate([1, 5, 6], { maxTokens: 100, temperature: 0, ignoreEos: true });
  assert.equal(full.stopReason, "context");
  assert.equal(full.tokens.length, 16 - 3 + 1);
});

test("loadModel opens a folder, a GGUF and a llama2.c file with --tokenizer to the same greedy text", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-load-"));
  try {
    const folder = loadModelSync(evalModel);
    const tok = folder.tokenizer as SentencePieceTokenizer;
    const gguf = path.join(dir, "m.gguf");
    const bin = path.join(dir, "m.bin");
    saveAnyModel(gguf, { config: folder.config, params: float32Params(folder), tokenizer: tok.model });
    saveAnyModel(bin, { config: folder.config, params: float32Params(folder), tokenizer: undefined });
    const req = { prompt: "The cat", maxTokens: 8, temperature: 0, ignoreEos: true } as const;
    const a = await generate(folder, req);
    const g = await loadModel(gguf);
    assert.equal(g.format, "gguf");
    assert.equal(g.name, "m");
    const b = await generate(g, req);
    const l = await loadModel(bin, { tokenizer: path.join(evalModel, "tokenizer.model") });
    assert.equal(l.format, "llama2c");
    const c = await generate(l, req);
    assert.deepEqual(b.tokens, a.tokens);
    assert.equal(b.text, a.text);
    assert.deepEqual(c.tokens, a.tokens);
    assert.ok(a.text.length > 0);
    assert.equal((await loadModel(bin)).tokenizer, undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
