/**
 * Multiple-choice evaluation speed (items/s) for HellaSwag-sized items (an 80-token context,
 * 4 endings of 20 tokens) on a random model with the stories15M shape, with the context run
 * once per question (KV cache reused) and, for comparison, re-run for every choice.
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

function itemsPerSecond(model: LlamaModel, items: ReturnType<typeof makeItems>, reuse: boolean): { rate: number; tokensPerItem: number } {
  let scorer = new LoglikelihoodScorer(model, noTokenizer);
  const t0 = performance.now();
  let tokens = 0;
  for (const it of items) {
    for (const e of it.endings) {
      if (!reuse) {
        tokens += scorer.stats.forwardedTokens;
        scorer = new LoglikelihoodScorer(model, noTokenizer);
      }
      scorer.loglikelihoodTokens({ context: it.context, continuation: e });
    }
  }
  tokens += scorer.stats.forwardedTokens;
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
    runs.push({ label: "native", backend: native.backend, threads: 1, items: 12 });
    runs.push({ label: "native", backend: native.backend, threads: 2, items: 12 });
  }
  const rows: string[] = [];
  for (const run of runs) {
    run.backend.setThreads(run.threads);
    const model = new LlamaModel(config, params, run.backend);
    const items = makeItems(run.items, config.vocabSize);
    itemsPerSecond(model, makeItems(1, config.vocabSize), true); // warm-up
    const once = itemsPerSecond(model, items, true);
    const every = itemsPerSecond(model, items, false);
    rows.push(`| ${run.label} | ${run.threads} | ${once.rate.toFixed(2)} | ${once.tokensPerItem.toFixed(1)} | ${every.rate.toFixed(2)} | ${every.tokensPerItem.toFixed(1)} |`);
  }
  if (!native.backend) rows.push(`| native | - | not available: ${native.error} | | | |`);
  return [
    "## Eval: multiple choice, HellaSwag-sized items, stories15M shape (dim 288, 6 layers, vocab 32000), f32, random weights",
    "",
    `Each item: a ${CONTEXT}-token context and ${CHOICES} endings of ${ENDING} tokens; log-likelihood of every ending.`,
    "",
    "| backend | threads | items/s (context once) | tokens run per item | items/s (context per choice) | tokens run per item |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
