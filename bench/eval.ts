/**
 * Multiple-choice evaluation speed (items/s) for HellaSwag-sized items (an 80-token context,
 * 4 endings of 20 tokens) on a random model with the stories15M shape, at several --batch
 * sizes (choices per forward call; the context runs once per question, its KV cache shared by
 * the choices) and, for comparison, with the context re-run for every choice.
 */
import { presetConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { LlamaModel } from "../src/model/llama.js";
import { referenceBackend } from "../src/kernels/backend.js";
import { loadNativeBackend } from "../src/kernels/native.js";
import type { Backend } from "../src/kernels/types.js";
import { LoglikelihoodScorer, type EvalTokenizer } from "../src/eval/scorer.js";
import { Rng } from "../src/util/rng.js";

const CONTEXT = 80;
const ENDING = 20;
const CHOICES = 4;

/** Items are built from ids directly; the scorer's tokenizer is never called. */
const noTokenizer: EvalTokenizer = {
  encode: () => { throw new Error("not used"); },
  decode: () => "",
  bosId: 1,
  eosId: 2,
};

function makeItems(n: number, vocab: number): Array<{ context: number[]; endings: number[][] }> {
  const rng = new Rng(3);
  const ids = (k: number): number[] => Array.from({ length: k }, () => 3 + rng.nextInt(vocab - 3));
  return Array.from({ length: n }, () => ({ context: [1, ...ids(CONTEXT - 1)], endings: Array.from({ length: CHOICES }, () => ids(ENDING)) }));
}

/** Items/s with `batchSize` choices per forward call (whole questions batched together while they fit). */
function itemsPerSecond(model: LlamaModel, items: ReturnType<typeof makeItems>, batchSize: number): { rate: number; tokensPerItem: number } {
  const scorer = new LoglikelihoodScorer(model, noTokenizer, { batchSize });
  const t0 = performance.now();
  const perCall = Math.max(1, Math.floor(batchSize / CHOICES));
  for (let i = 0; i < items.length; i += perCall) {
    scorer.loglikelihoodGroups(items.slice(i, i + perCall).map((it) => it.endings.map((e) => ({ context: it.context, continuation: e }))));
  }
  return { rate: items.length / ((performance.now() - t0) / 1000), tokensPerItem: scorer.stats.forwardedTokens / items.length };
}

/** The context re-run for every choice (no cache sharing), one choice per call: the naive cost. */
function itemsPerSecondNaive(model: LlamaModel, items: ReturnType<typeof makeItems>): { rate: number; tokensPerItem: number } {
  const t0 = performance.now();
  let tokens = 0;
  for (const it of items) {
    for (const e of it.endings) {
      const scorer = new LoglikelihoodScorer(model, noTokenizer, { batchSize: 1 });
      scorer.loglikelihoodTokens({ context: it.context, continuation: e });
      tokens += scorer.stats.forwardedTokens;
    }
  }
  return { rate: items.length / ((performance.now() - t0) / 1000), tokensPerItem: tokens / items.length };
}

export async function bench(): Promise<string> {
  const config = presetConfig("stories15M");
  const params = initParams(config, 1);
  const runs: Array<{ label: string; backend: Backend; threads: number; items: number }> = [
    { label: "reference (TypeScript)", backend: referenceBackend(), threads: 1, items: 1 },
  ];
  const native = loadNativeBackend();
  if (native.backend) {
    runs.push({ label: "native", backend: native.backend, threads: 1, items: 32 });
    runs.push({ label: "native", backend: native.backend, threads: 2, items: 32 });
  }
  const batches = [1, CHOICES, 8 * CHOICES];
  const rows: string[] = [];
  for (const run of runs) {
    run.backend.setThreads(run.threads);
    const model = new LlamaModel(config, params, run.backend);
    const items = makeItems(run.items, config.vocabSize);
    itemsPerSecond(model, makeItems(8, config.vocabSize), 8 * CHOICES); // warm-up
    const cells = batches.map((b) => itemsPerSecond(model, items, b));
    const naive = itemsPerSecondNaive(model, items);
    rows.push(`| ${run.label} | ${run.threads} | ${cells.map((c) => c.rate.toFixed(2)).join(" | ")} | ${cells[0]!.tokensPerItem.toFixed(1)} | ${naive.rate.toFixed(2)} | ${naive.tokensPerItem.toFixed(1)} |`);
  }
  if (!native.backend) rows.push(`| native | - | not available: ${native.error} | | | | | |`);
  return [
    "## Eval: multiple choice, HellaSwag-sized items, stories15M shape (dim 288, 6 layers, vocab 32000), f32, random weights",
    "",
    `Each item: a ${CONTEXT}-token context and ${CHOICES} endings of ${ENDING} tokens; log-likelihood of every ending. ` +
      "`--batch N`: N choices per forward call (`LlamaModel.forwardBatch`: the question's context and its choices' " +
      "continuations in one product per linear layer, the context's KV cache shared by the choices; several questions per call when N > " +
      `${CHOICES}). The context runs once per question at every N. Last column pair: the context re-run for every choice.`,
    "",
    `| backend | threads | ${batches.map((b) => `items/s (--batch ${b})`).join(" | ")} | tokens run per item | items/s (context per choice) | tokens run per item |`,
    `|---|---|${batches.map(() => "---|").join("")}---|---|---|`,
    ...rows,
    "",
  ].join("\n");
}
