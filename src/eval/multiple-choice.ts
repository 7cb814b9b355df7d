/**
 * Multiple-choice scoring. For every choice, the log-likelihood of its continuation given
 * its context; then three answers per question:
 *
 *   acc       argmax of the log-likelihood
 *   acc_norm  argmax of log-likelihood / number of characters of the choice text (as
 *             lm-evaluation-harness: len(choice) in code points, without the " " delimiter)
 *   paper     the LLaMA paper's rule: acc_norm, except on BoolQ and OpenBookQA, where the
 *             score is logP(" choice" | context) − logP(" choice" | "Answer:")
 *
 * Ties go to the first choice (numpy.argmax). The unconditional log-likelihoods depend only
 * on the choice text, so they are computed once per distinct choice and remembered.
 */
import { Rng } from "../util/rng.js";
import type { LoglikelihoodScorer } from "./scorer.js";
import { UNCONDITIONAL_CONTEXT, fewshotText, type McExample, type PaperRule } from "./tasks.js";

export interface McPredictions {
  acc: number;
  acc_norm: number;
  paper: number;
}

export interface McItemResult {
  /** 1-based line of the item in its data file. */
  line: number;
  gold: number;
  /** The full prompt of the first choice (with few-shot examples). */
  context: string;
  choices: string[];
  loglikelihoods: number[];
  /** logP(choice | "Answer:") for the unconditional rule. */
  unconditional?: number[];
  /** Characters per choice used by acc_norm. */
  chars: number[];
  /** Whether each choice is the greedy continuation. */
  greedy: boolean[];
  pred: McPredictions;
}

export interface McMetrics {
  acc: number;
  acc_norm: number;
  paper: number;
  [key: string]: number;
}

export interface FewshotOptions {
  /** Solved examples to draw from. */
  pool: ReadonlyArray<{ line: number; example: McExample }>;
  shots: number;
  seed: number;
  /** The pool is the evaluated file itself: never show an item its own answer. */
  sameFile?: boolean;
}

function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** The three decision rules on one question's scores. */
export function mcPredictions(loglikelihoods: readonly number[], chars: readonly number[], unconditional?: readonly number[]): McPredictions {
  const acc = argmax(loglikelihoods);
  const acc_norm = argmax(loglikelihoods.map((ll, i) => ll / chars[i]!));
  const paper = unconditional ? argmax(loglikelihoods.map((ll, i) => ll - unconditional[i]!)) : acc_norm;
  return { acc, acc_norm, paper };
}

/** Number of characters as Python's len(): code points. */
export function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Draws `k` distinct pool entries (never `exclude`), in draw order. */
export function sampleFewshot<T extends { line: number }>(pool: readonly T[], k: number, rng: Rng, excludeLine?: number): T[] {
  const candidates = excludeLine === undefined ? pool.slice() : pool.filter((p) => p.line !== excludeLine);
  if (k > candidates.length) throw new RangeError(`${k} few-shot examples requested but only ${candidates.length} are available`);
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(candidates.length - i);
    const t = candidates[i]!;
    candidates[i] = candidates[j]!;
    candidates[j] = t;
  }
  return candidates.slice(0, k);
}

export class MultipleChoiceEvaluator {
  private readonly unconditionalMemo = new Map<string, number>();
  private readonly rng: Rng | undefined;

  constructor(
    readonly scorer: LoglikelihoodScorer,
    readonly paperRule: PaperRule,
    readonly fewshot?: FewshotOptions,
  ) {
    this.rng = fewshot && fewshot.shots > 0 ? new Rng(fewshot.seed) : undefined;
  }

  /** The few-shot prefix for one item ("" when zero-shot). */
  private prefix(line: number): string {
    if (!this.fewshot || !this.rng) return "";
    const shots = sampleFewshot(this.fewshot.pool, this.fewshot.shots, this.rng, this.fewshot.sameFile ? line : undefined);
    return shots.map((s) => fewshotText(s.example)).join("\n\n") + "\n\n";
  }

  evaluate(line: number, ex: McExample): McItemResult {
    const prefix = this.prefix(line);
    const n = ex.continuations.length;
    const loglikelihoods: number[] = [];
    const greedy: boolean[] = [];
    for (let i = 0; i < n; i++) {
      const ctx = prefix + (ex.contexts.length === 1 ? ex.contexts[0]! : ex.contexts[i]!);
      const r = this.scorer.loglikelihood(ctx, ex.delimiter + ex.continuations[i]!);
      loglikelihoods.push(r.logprob);
      greedy.push(r.greedy);
    }
    let unconditional: number[] | undefined;
    if (this.paperRule === "unconditional") {
      unconditional = ex.continuations.map((c) => {
        const cont = ex.delimiter + c;
        let v = this.unconditionalMemo.get(cont);
        if (v === undefined) {
          v = this.scorer.loglikelihood(UNCONDITIONAL_CONTEXT, cont).logprob;
          this.unconditionalMemo.set(cont, v);
        }
        return v;
      });
    }
    const chars = ex.continuations.map(charCount);
    const result: McItemResult = {
      line,
      gold: ex.gold,
      context: prefix + ex.contexts[0]!,
      choices: ex.continuations,
      loglikelihoods,
      chars,
      greedy,
      pred: mcPredictions(loglikelihoods, chars, unconditional),
    };
    if (unconditional) result.unconditional = unconditional;
    return result;
  }
}

/** Accuracy of each rule over item results (NaN when there are none). */
export function mcMetrics(results: readonly McItemResult[]): McMetrics {
  const n = results.length;
  const m = { acc: 0, acc_norm: 0, paper: 0 };
  for (const r of results) {
    if (r.pred.acc === r.gold) m.acc++;
    if (r.pred.acc_norm === r.gold) m.acc_norm++;
    if (r.pred.paper === r.gold) m.paper++;
  }
  return { acc: m.acc / n, acc_norm: m.acc_norm / n, paper: m.paper / n };
}
