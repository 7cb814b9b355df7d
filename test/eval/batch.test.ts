/**
 * Batched scoring: LlamaModel.forwardBatch (several sequences sharing a prefix cache, one
 * product per linear layer) equals forward on each sequence; the scorer's batched
 * log-likelihoods equal the unbatched path for any batch size and token bound; the
 * table-driven logsumexp equals the Math.exp reference.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { assertClose, fixturesDir, rng } from "../helpers.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { LlamaModel } from "../../src/model/llama.js";
import { referenceBackend } from "../../src/kernels/backend.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import {
  LoglikelihoodScorer, MC_TASKS, MultipleChoiceEvaluator, logSoftmaxAt, runEvalTask,
  type EvalSample, type McItemResult, type TokenizedRequest,
} from "../../src/eval/index.js";
import { logSumExp } from "../../src/eval/scorer.js";

const evalDir = path.join(fixturesDir, "eval");
const folder = loadModelFolder(path.join(evalDir, "model"));
const model = new LlamaModel(folder.config, folder.params);
const tokenizer = SentencePieceTokenizer.fromFile(folder.tokenizerPath!);
const V = model.config.vocabSize;

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function ids(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
}

for (const [name, m] of [["native/default", model], ["reference", new LlamaModel(folder.config, folder.params, referenceBackend())]] as const) {
  test(`forwardBatch over a shared prefix and its branches equals forward per sequence (${name})`, () => {
    const prefix = ids(9, 1);
    const branches = [ids(5, 2), ids(1, 3), ids(7, 4)];
    const other = ids(6, 5); // a second sequence in its own cache
    const shared = m.newCache(32);
    const own = m.newCache(32);
    const out = m.forwardBatch([
      { tokens: prefix, cache: shared, pos0: 0, logitsFrom: prefix.length - 1 },
      ...branches.map((b) => ({ tokens: b, cache: shared, pos0: prefix.length, logitsFrom: 0 })),
      { tokens: other, cache: own, pos0: 0, logitsFrom: 2 },
    ]);
    assert.equal(out.length, 5);
    const full = (seq: number[]): Float32Array => m.forward(seq, m.newCache(32), true);
    assertClose(out[0]!, full(prefix).subarray((prefix.length - 1) * V), 1e-5, "prefix last row");
    branches.forEach((b, i) => assertClose(out[i + 1]!, full([...prefix, ...b]).subarray(prefix.length * V), 1e-5, `branch ${i}`));
    assertClose(out[4]!, full(other).subarray(2 * V), 1e-5, "other sequence");
    // The shared cache now holds the prefix (and the last branch): it extends like any cache.
    const last = branches[2]!;
    const next = m.forwardBatch([{ tokens: [7], cache: shared, pos0: prefix.length + last.length, logitsFrom: 0 }])[0]!;
    assertClose(next, full([...prefix, ...last, 7]).subarray((prefix.length + last.length) * V), 1e-5, "continued");
    // Without logitsFrom a segment returns no rows.
    assert.equal(m.forwardBatch([{ tokens: [5, 6], cache: m.newCache(4), pos0: 0 }])[0]!.length, 0);
    assert.throws(() => m.forwardBatch([{ tokens: [5, 6], cache: m.newCache(4), pos0: 3 }]), /exceeds the context length/);
  });
}

/** A few questions of several tasks' kinds as token requests (WinoGrande: one context per choice). */
function questions(): TokenizedRequest[][] {
  const scorer = new LoglikelihoodScorer(model, tokenizer);
  const out: TokenizedRequest[][] = [];
  for (const [task, file] of [["hellaswag", "hellaswag.jsonl"], ["winogrande", "winogrande.jsonl"], ["arc_easy", "arc_easy.jsonl"], ["boolq", "boolq.jsonl"]] as const) {
    for (const line of fs.readFileSync(path.join(evalDir, file), "utf8").split("\n").filter((l) => l.trim() !== "")) {
      let ex;
      try { ex = MC_TASKS[task]!.parse(JSON.parse(line), undefined); } catch { continue; }
      out.push(ex.continuations.map((c, i) => scorer.tokenize(ex.contexts.length === 1 ? ex.contexts[0]! : ex.contexts[i]!, ex.delimiter + c)));
    }
  }
  return out;
}

test("batched log-likelihoods equal the unbatched path for any batch size and token bound", () => {
  const qs = questions();
  assert.ok(qs.length >= 8);
  // The unbatched path: one plain forward pass over context + continuation[:-1] per request.
  const unbatched = qs.map((g) => g.map((r) => {
    const seq = [...r.context, ...r.continuation].slice(0, -1);
    const logits = model.forward(seq, model.newCache(seq.length), true);
    let logprob = 0;
    let greedy = true;
    r.continuation.forEach((t, i) => {
      const row = logits.subarray((r.context.length - 1 + i) * V, (r.context.length + i) * V);
      logprob += logSoftmaxAt(row, t);
      let best = 0;
      for (let j = 1; j < V; j++) if (row[j]! > row[best]!) best = j;
      if (best !== t) greedy = false;
    });
    return { logprob, greedy, tokens: r.continuation.length };
  }));
  for (const opts of [{ batchSize: 1 }, { batchSize: 3 }, { batchSize: 32 }, { batchSize: 1000, maxChunk: 7 }, { batchSize: 5, maxChunk: 40 }]) {
    const scorer = new LoglikelihoodScorer(model, tokenizer, opts);
    // Twice: the second time the caches already hold the prefixes.
    for (const round of [0, 1]) {
      const got = scorer.loglikelihoodGroups(qs);
      got.forEach((g, q) => g.forEach((r, i) => {
        const want = unbatched[q]![i]!;
        close(r.logprob, want.logprob, 1e-5, `${JSON.stringify(opts)} round ${round} question ${q} choice ${i}`);
        assert.equal(r.greedy, want.greedy);
        assert.equal(r.tokens, want.tokens);
      }));
    }
    // Each question's shared context prefix runs once (into the question's own cache), then
    // each choice its own context tail and continuation but the last token.
    const fresh = new LoglikelihoodScorer(model, tokenizer, opts);
    fresh.loglikelihoodGroups(qs);
    let expected = 0;
    for (const g of qs) {
      let p = g[0]!.context.length;
      for (const r of g) { let k = 0; while (k < p && r.context[k] === g[0]!.context[k]) k++; p = k; }
      expected += p;
      for (const r of g) expected += r.context.length - p + r.continuation.length - 1;
    }
    assert.equal(fresh.stats.forwardedTokens, expected);
    assert.ok(expected < qs.reduce((s, g) => s + g.reduce((t, r) => t + r.context.length + r.continuation.length - 1, 0), 0));
  }
});

test("several questions per forward call: every batch size gives the same item results", () => {
  const runs = [1, 2, 7, 64].map((batchSize) => {
    const samples: McItemResult[] = [];
    const r = runEvalTask(model, tokenizer, { task: "openbookqa", data: path.join(evalDir, "openbookqa.jsonl"), batchSize, onSample: (s: EvalSample) => samples.push(s as McItemResult) });
    return { r, samples };
  });
  for (const { r, samples } of runs.slice(1)) {
    assert.deepEqual(r.metrics, runs[0]!.r.metrics);
    assert.equal(samples.length, runs[0]!.samples.length);
    samples.forEach((s, i) => {
      const want = runs[0]!.samples[i]!;
      assert.equal(s.line, want.line);
      s.loglikelihoods.forEach((v, j) => close(v, want.loglikelihoods[j]!, 1e-5, `item ${i} choice ${j}`));
      s.unconditional!.forEach((v, j) => close(v, want.unconditional![j]!, 1e-5, `item ${i} unconditional ${j}`));
    });
  }
  // Fewer forward calls with larger batches.
  assert.ok(runs[3]!.r.stats!.forwardCalls < runs[0]!.r.stats!.forwardCalls);
  // An item that cannot be scored is reported on its own; the others of its batch are scored.
  const scorer = new LoglikelihoodScorer(model, tokenizer);
  const ev = new MultipleChoiceEvaluator(scorer, "charnorm");
  const long = "word ".repeat(600);
  const res = ev.evaluateMany([
    { line: 1, example: { contexts: ["The sky is"], continuations: ["blue", "green"], delimiter: " ", gold: 0 } },
    { line: 2, example: { contexts: ["Say"], continuations: [long, "no"], delimiter: " ", gold: 0 } },
    { line: 3, example: { contexts: ["Grass is"], continuations: ["green", "red"], delimiter: " ", gold: 0 } },
  ]);
  assert.ok(res[1] instanceof RangeError);
  assert.ok(!(res[0] instanceof RangeError) && !(res[2] instanceof RangeError));
  const single = new MultipleChoiceEvaluator(new LoglikelihoodScorer(model, tokenizer), "charnorm").evaluate(3, { contexts: ["Grass is"], continuations: ["green", "red"], delimiter: " ", gold: 0 });
  (res[2] as McItemResult).loglikelihoods.forEach((v, j) => close(v, single.loglikelihoods[j]!, 1e-5, `item 3 choice ${j}`));
});

test("logSumExp (table-driven exp) equals the Math.exp log-softmax", () => {
  const r = rng(9);
  for (const [n, scale] of [[32000, 10], [1200, 0.01], [5, 100], [1, 1], [50000, 40]] as const) {
    const row = new Float32Array(n);
    for (let i = 0; i < n; i++) row[i] = (r() * 2 - 1) * scale;
    const s = logSumExp(row);
    let argmax = 0;
    for (let i = 1; i < n; i++) if (row[i]! > row[argmax]!) argmax = i;
    assert.equal(s.argmax, argmax);
    for (const t of [0, n - 1, argmax, Math.floor(n / 2)]) close(row[t]! - s.lse, logSoftmaxAt(row, t), 1e-10, `n ${n} scale ${scale} token ${t}`);
  }
  // Ties: the first maximum (numpy.argmax); a constant row is uniform.
  const flat = new Float32Array(8).fill(3);
  assert.equal(logSumExp(flat).argmax, 0);
  close(flat[0]! - logSumExp(flat).lse, -Math.log(8), 1e-10, "uniform");
});
