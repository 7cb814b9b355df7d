/**
 * Evaluation: scores on hand-written samples of every task's release format equal an
 * independent PyTorch computation (tools/gen_eval_fixtures.py) and a direct computation from
 * LlamaModel.forward; the decision rules; the context evaluated once per question; few-shot
 * prompts; closed-book QA; perplexity; malformed lines.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fixturesDir } from "../helpers.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { LlamaModel } from "../../src/model/llama.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import { generateTokens } from "../../src/generate/generate.js";
import {
  LoglikelihoodScorer, MC_TASKS, MultipleChoiceEvaluator, cutAnswer, documentNll, exactMatch, hellaswagPreprocess,
  logSoftmaxAt, mcPredictions, pyCapitalize, qaPrompt, runEvalTask, splitTrailingSpace,
  type EvalSample, type McItemResult,
} from "../../src/eval/index.js";

const evalDir = path.join(fixturesDir, "eval");
const folder = loadModelFolder(path.join(evalDir, "model"));
const model = new LlamaModel(folder.config, folder.params);
const tokenizer = SentencePieceTokenizer.fromFile(folder.tokenizerPath!);

interface ExpectedItem {
  line: number; gold: number; loglikelihoods: number[]; unconditional?: number[]; chars: number[];
  pred: { acc: number; acc_norm: number; paper: number };
}
const expected = JSON.parse(fs.readFileSync(path.join(evalDir, "expected.json"), "utf8")) as {
  tasks: Record<string, { file: string; n: number; skipped: number; items: ExpectedItem[]; metrics: Record<string, number> }>;
  perplexity: Record<string, number>;
};

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
}

/** Σ log p(cont | ctx) by one fresh forward pass over ctx + cont[:-1]. */
function directLoglik(ctx: number[], cont: number[]): number {
  const seq = [...ctx, ...cont].slice(0, -1);
  const logits = model.forward(seq, model.newCache(seq.length), true);
  const V = model.config.vocabSize;
  let s = 0;
  cont.forEach((t, i) => { s += logSoftmaxAt(logits.subarray((ctx.length - 1 + i) * V, (ctx.length + i) * V), t); });
  return s;
}

test("every task's scores, predictions and metrics equal the PyTorch reference", () => {
  for (const [task, exp] of Object.entries(expected.tasks)) {
    const samples: EvalSample[] = [];
    const r = runEvalTask(model, tokenizer, { task, data: path.join(evalDir, exp.file), onSample: (s) => samples.push(s) });
    assert.equal(r.n, exp.n, `${task} n`);
    assert.equal(r.skipped.length, exp.skipped, `${task} skipped`);
    for (let i = 0; i < exp.items.length; i++) {
      const got = samples[i] as McItemResult;
      const want = exp.items[i]!;
      assert.equal(got.line, want.line);
      assert.equal(got.gold, want.gold, `${task} line ${want.line} gold`);
      assert.deepEqual(got.chars, want.chars, `${task} chars`);
      got.loglikelihoods.forEach((v, j) => close(v, want.loglikelihoods[j]!, 1e-4, `${task} line ${want.line} choice ${j}`));
      if (want.unconditional) got.unconditional!.forEach((v, j) => close(v, want.unconditional![j]!, 1e-4, `${task} unconditional ${j}`));
      assert.deepEqual(got.pred, want.pred, `${task} line ${want.line} predictions`);
    }
    assert.deepEqual(r.metrics, exp.metrics, `${task} metrics`);
  }
});

test("acc, acc_norm and paper disagree where their rules do", () => {
  // acc picks 0 (highest sum); per character choice 1 wins; against "Answer:" choice 2 gains most.
  const p = mcPredictions([-10, -12, -13], [5, 12, 6], [-9, -11, -20]);
  assert.deepEqual(p, { acc: 0, acc_norm: 1, paper: 2 });
  // Without the unconditional rule, paper = acc_norm; ties go to the first choice.
  assert.deepEqual(mcPredictions([-10, -12, -13], [5, 12, 6]), { acc: 0, acc_norm: 1, paper: 1 });
  assert.deepEqual(mcPredictions([-4, -4], [2, 2]), { acc: 0, acc_norm: 0, paper: 0 });
  // On the real model the fixtures hold such cases too (checked against PyTorch above).
  assert.notEqual(expected.tasks["mc"]!.metrics["acc"], expected.tasks["mc"]!.metrics["acc_norm"]);
  assert.notEqual(expected.tasks["openbookqa"]!.metrics["acc_norm"], expected.tasks["openbookqa"]!.metrics["paper"]);
});

test("the context is evaluated once per question; each choice runs only its continuation", () => {
  const spec = MC_TASKS["hellaswag"]!;
  const line = fs.readFileSync(path.join(evalDir, "hellaswag.jsonl"), "utf8").split("\n")[0]!;
  const ex = spec.parse(JSON.parse(line), undefined);
  const scorer = new LoglikelihoodScorer(model, tokenizer);
  const r = new MultipleChoiceEvaluator(scorer, "charnorm").evaluate(1, ex);
  const reqs = ex.continuations.map((c) => scorer.tokenize(ex.contexts[0]!, " " + c));
  const ctxLen = reqs[0]!.context.length;
  for (const q of reqs) assert.deepEqual(q.context, reqs[0]!.context);
  // Context once, each continuation token once (but the last, which is only predicted)...
  const expectedTokens = ctxLen + reqs.reduce((s, q) => s + q.continuation.length - 1, 0);
  assert.equal(scorer.stats.forwardedTokens, expectedTokens);
  assert.ok(reqs.filter((q) => q.continuation.length > 1).length >= 2);
  // ...all in one batched forward call (context and every choice's continuation together).
  assert.equal(scorer.stats.forwardCalls, 1);
  // ...and sharing the context's cache changes nothing: each equals a fresh full forward pass.
  reqs.forEach((q, i) => close(r.loglikelihoods[i]!, directLoglik(q.context, q.continuation), 1e-5, `choice ${i}`));
  // One choice per call (--batch 1): the same tokens, one call per choice that runs tokens.
  const one = new LoglikelihoodScorer(model, tokenizer, { batchSize: 1 });
  const r1 = new MultipleChoiceEvaluator(one, "charnorm").evaluate(1, ex);
  assert.equal(one.stats.forwardedTokens, expectedTokens);
  assert.equal(one.stats.forwardCalls, reqs.filter((q) => q.continuation.length > 1).length);
  r1.loglikelihoods.forEach((v, i) => close(v, r.loglikelihoods[i]!, 1e-5, `batch 1 choice ${i}`));
  // WinoGrande's two contexts share their start: only the differing tail is run again.
  const wino = MC_TASKS["winogrande"]!.parse(JSON.parse(fs.readFileSync(path.join(evalDir, "winogrande.jsonl"), "utf8").split("\n")[1]!), undefined);
  const s2 = new LoglikelihoodScorer(model, tokenizer);
  const w = new MultipleChoiceEvaluator(s2, "charnorm").evaluate(2, wino);
  const wr = wino.contexts.map((c) => s2.tokenize(c, " " + wino.continuations[0]!));
  assert.ok(s2.stats.forwardedTokens < wr.reduce((s, q) => s + q.context.length + q.continuation.length - 1, 0));
  wr.forEach((q, i) => close(w.loglikelihoods[i]!, directLoglik(q.context, q.continuation), 1e-5, `winogrande ${i}`));
});

test("harness tokenisation: trailing context spaces move to the continuation", () => {
  assert.deepEqual(splitTrailingSpace("Answer: ", "Paris"), ["Answer:", " Paris"]);
  assert.deepEqual(splitTrailingSpace("A:\n", "x"), ["A:", "\nx"]);
  assert.deepEqual(splitTrailingSpace("A:", " x"), ["A:", " x"]);
  const scorer = new LoglikelihoodScorer(model, tokenizer);
  const a = scorer.tokenize("The capital is ", "Paris");
  const b = scorer.tokenize("The capital is", " Paris");
  assert.deepEqual(a, b);
  const whole = tokenizer.encode("The capital is Paris");
  assert.deepEqual([...a.context.slice(1), ...a.continuation], whole);
  assert.equal(a.context[0], tokenizer.bosId);
  assert.deepEqual(new LoglikelihoodScorer(model, tokenizer, { bos: false }).tokenize("The capital is", " Paris").context, tokenizer.encode("The capital is"));
  // An empty context is the prefix token alone.
  assert.deepEqual(scorer.tokenize("", "Cat").context, [tokenizer.bosId]);
});

test("HellaSwag preprocessing and Python's capitalize", () => {
  assert.equal(pyCapitalize("then YOU"), "Then you");
  assert.equal(hellaswagPreprocess(" Making a cake: [header] How to bake [title] Preheat.  Then"), "Making a cake: How to bake. Preheat. Then");
  const ex = MC_TASKS["hellaswag"]!.parse(JSON.parse(fs.readFileSync(path.join(evalDir, "hellaswag.jsonl"), "utf8").split("\n")[1]!), undefined);
  assert.equal(ex.contexts[0], "Making a cake: How to bake a cake. Preheat the oven. Then you");
  // The harness strips before removing brackets, so "[step] x" keeps a leading space (kept on purpose).
  assert.deepEqual(ex.continuations, [" paint the wall green.", "mix the flour and the eggs in a bowl.", "sing a song about the moon.", " throw the oven away."]);
});

test("few-shot: K solved examples from the other file, seeded, scored like any context", () => {
  const samples: McItemResult[] = [];
  const opts = {
    task: "piqa", data: path.join(evalDir, "piqa-valid.jsonl"), shots: 2, fewshotData: path.join(evalDir, "piqa-train.jsonl"), seed: 5,
    onSample: (s: EvalSample) => samples.push(s as McItemResult),
  };
  runEvalTask(model, tokenizer, opts);
  const ctx = samples[1]!.context;
  const parts = ctx.split("\n\n");
  assert.equal(parts.length, 3);
  for (const shot of parts.slice(0, 2)) assert.match(shot, /^Question: To [a-z ]+\nAnswer: [a-z ]+\.$/);
  assert.equal(parts[2], "Question: To keep bread fresh\nAnswer:");
  const scorer = new LoglikelihoodScorer(model, tokenizer);
  const q = scorer.tokenize(ctx, " store it in a sealed bag.");
  close(samples[1]!.loglikelihoods[0]!, directLoglik(q.context, q.continuation), 1e-5, "few-shot choice");
  const again: McItemResult[] = [];
  runEvalTask(model, tokenizer, { ...opts, onSample: (s) => again.push(s as McItemResult) });
  assert.deepEqual(again.map((s) => s.context), samples.map((s) => s.context));
  assert.throws(() => runEvalTask(model, tokenizer, { ...opts, shots: 4 }), /only 3 usable/);
});

test("closed-book QA: harness prompts, answer cut, greedy answers", () => {
  assert.equal(cutAnswer(" Paris, France.\nQ: next"), "Paris");
  assert.equal(cutAnswer(" Charles Darwin\nQ"), "Charles Darwin");
  assert.equal(cutAnswer(" 8 legs. Spiders"), "8 legs");
  assert.equal(cutAnswer("\u3000x y\u00a0"), "x y");
  const shot = { question: "q1", answers: ["a1", "b1"] };
  assert.equal(qaPrompt("q2", [shot, shot], "nq_open"), "Answer these questions:\n\nQ: q1?\nA: a1\nQ: q1?\nA: a1\nQ: q2?\nA:");
  assert.equal(qaPrompt("q2?", [shot], "triviaqa"), "Question: q1?\nAnswer: a1\n\nQuestion: q2??\nAnswer:");
  assert.equal(qaPrompt("q2", [], "nq_open"), "Answer these questions:\n\nQ: q2?\nA:");
  const samples: EvalSample[] = [];
  const r = runEvalTask(model, tokenizer, { task: "nq", data: path.join(evalDir, "qa.jsonl"), maxTokens: 6, onSample: (s) => samples.push(s) });
  assert.equal(r.n, 2);
  assert.equal(r.original, 3);
  assert.equal(r.skipped.length, 1);
  assert.equal(r.skipped[0]!.line, 3);
  for (const s of samples) {
    if (s.kind !== "qa") throw new Error("qa sample expected");
    assert.equal(s.prompt, `Answer these questions:\n\nQ: ${s.question}?\nA:`);
    const ids = [...generateTokens(model, tokenizer.encode(s.prompt, { bos: true }), { maxTokens: 6, temperature: 0, topP: 1, seed: 0 })];
    const text = tokenizer.decode(ids);
    assert.ok(text.startsWith(s.generated), `${JSON.stringify(text)} starts with ${JSON.stringify(s.generated)}`);
    assert.equal(s.prediction, cutAnswer(text));
    assert.equal(s.correct, exactMatch(s.prediction, { question: s.question, answers: s.answers }, "nq_open"));
  }
  assert.equal(r.metrics["exact_match"], samples.filter((s) => s.kind === "qa" && s.correct).length / 2);
});

test("perplexity equals the PyTorch reference and a direct computation", () => {
  const e = expected.perplexity;
  const r = runEvalTask(model, tokenizer, { task: "perplexity", data: path.join(evalDir, "ppl.txt"), window: e["window"], stride: e["stride"] });
  for (const k of ["token_perplexity", "bits_per_byte", "byte_perplexity", "word_perplexity"]) close(r.metrics[k]!, e[k]!, 1e-4, k);
  assert.equal(r.metrics["tokens"], e["tokens"]);
  assert.equal(r.metrics["bytes"], e["bytes"]);
  // With window >= the text, the sliding window is one forward pass over BOS + text.
  const text = fs.readFileSync(path.join(evalDir, "ppl.txt"), "utf8");
  const ids = [tokenizer.bosId, ...tokenizer.encode(text)];
  const direct = -directLoglik([ids[0]!], ids.slice(1));
  const whole = documentNll(model, tokenizer, text, { window: 200, maxChunk: 37 });
  close(whole.nll, direct, 1e-5, "nll");
  assert.equal(whole.forwardedTokens, ids.length - 1);
  // A smaller stride costs more tokens but scores each token once.
  const strided = documentNll(model, tokenizer, text, { window: 16, stride: 4 });
  assert.equal(strided.tokens, ids.length - 1);
  assert.ok(strided.forwardedTokens > ids.length);
});

test("malformed lines are skipped, counted and reported with their line numbers", () => {
  const r = runEvalTask(model, tokenizer, { task: "mc", data: path.join(evalDir, "mc.jsonl") });
  assert.equal(r.n, 3);
  assert.deepEqual(r.skipped.map((s) => s.line), [2, 3]);
  assert.match(r.skipped[0]!.reason, /not valid JSON/);
  assert.match(r.skipped[1]!.reason, /gold 7/);
  const b = runEvalTask(model, tokenizer, { task: "boolq", data: path.join(evalDir, "boolq.jsonl"), limit: 1 });
  assert.equal(b.n, 1);
});
