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
 * on the choice text, so they are computed once per distinct choice and remembered. Several
 * questions are scored together (`evaluateMany`): one request group per question, batched by
 * the scorer.
 */
import { PyRandom } from "./py-random.js";
import type { LoglikelihoodScorer, TokenizedRequest } from "./scorer.js";
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
  /** Python random.Random seed (the harness's fewshot_random_seed, 1234 by default). */
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

/**
 * The few-shot examples of one item, drawn as lm-evaluation-harness's ContextSampler does:
 * `rnd.sample(pool, k)` from a separate (training) pool, or `rnd.sample(pool, k + 1)` with
 * the evaluated item removed (first k kept) when the pool is the evaluated file.
 */
export function sampleFewshot<T extends { line: number }>(pool: readonly T[], k: number, rnd: PyRandom, excludeLine?: number): T[] {
  if (k === 0) return [];
  if (excludeLine === undefined) {
    if (k > pool.length) throw new RangeError(`${k} few-shot examples requested but only ${pool.length} are available`);
    return rnd.sample(pool, k);
  }
  if (k + 1 > pool.length) throw new RangeError(`${k} few-shot examples requested but only ${pool.length - 1} are available`);
  return rnd.sample(pool, k + 1).filter((p) => p.line !== excludeLine).slice(0, k);
}

export class MultipleChoiceEvaluator {
  private readonly unconditionalMemo = new Map<string, number>();
  private readonly rnd: PyRandom | undefined;

  constructor(
    readonly scorer: LoglikelihoodScorer,
    readonly paperRule: PaperRule,
    readonly fewshot?: FewshotOptions,
  ) {
    this.rnd = fewshot && fewshot.shots > 0 ? new PyRandom(fewshot.seed) : undefined;
  }

  /** The few-shot prefix for one item ("" when zero-shot). */
  private prefix(line: number): string {
    if (!this.fewshot || !this.rnd) return "";
    const shots = sampleFewshot(this.fewshot.pool, this.fewshot.shots, this.rnd, this.fewshot.sameFile ? line : undefined);
    return shots.map((s) => fewshotText(s.example)).join("\n\n") + "\n\n";
  }

  evaluate(line: number, ex: McExample): McItemResult {
    const r = this.evaluateMany([{ line, example: ex }])[0]!;
    if (r instanceof RangeError) throw r;
    return r;
  }

  /**
   * Scores several questions together: their choices go through the same batched forward
   * calls (each question's context run once). An item that cannot be scored (a continuation
   * longer than the context window, ...) gives its RangeError instead of a result.
   */
  evaluateMany(items: ReadonlyArray<{ line: number; example: McExample }>): Array<McItemResult | RangeError> {
    const scorer = this.scorer;
    interface Planned {
      line: number;
      ex: McExample;
      prefix: string;
      group: number;
      /** Per choice, the unconditional continuation text. */
      unconditional?: string[];
    }
    const groups: TokenizedRequest[][] = [];
    const planned: Array<Planned | RangeError> = [];
    /** Unconditional continuations to score in this batch (not yet remembered), in first-seen order. */
    const pending = new Map<string, TokenizedRequest>();
    for (const { line, example: ex } of items) {
      const prefix = this.prefix(line);
      try {
        const n = ex.continuations.length;
        const reqs: TokenizedRequest[] = [];
        for (let i = 0; i < n; i++) {
          const ctx = prefix + (ex.contexts.length === 1 ? ex.contexts[0]! : ex.contexts[i]!);
          reqs.push(scorer.prepare(scorer.tokenize(ctx, ex.delimiter + ex.continuations[i]!)));
        }
        let unconditional: string[] | undefined;
        const fresh: Array<[string, TokenizedRequest]> = [];
        if (this.paperRule === "unconditional") {
          unconditional = ex.continuations.map((c) => ex.delimiter + c);
          for (const cont of unconditional) {
            if (this.unconditionalMemo.has(cont) || pending.has(cont) || fresh.some(([c]) => c === cont)) continue;
            fresh.push([cont, scorer.prepare(scorer.tokenize(UNCONDITIONAL_CONTEXT, cont))]);
          }
        }
        for (const [c, r] of fresh) pending.set(c, r);
        groups.push(reqs);
        const item: Planned = { line, ex, prefix, group: groups.length - 1 };
        if (unconditional) item.unconditional = unconditional;
        planned.push(item);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        planned.push(e);
      }
    }
    const pendingKeys = [...pending.keys()];
    if (pendingKeys.length > 0) groups.push(pendingKeys.map((k) => pending.get(k)!));
    const scores = groups.length > 0 ? scorer.loglikelihoodGroups(groups) : [];
    if (pendingKeys.length > 0) scores[scores.length - 1]!.forEach((r, i) => this.unconditionalMemo.set(pendingKeys[i]!, r.logprob));

    return planned.map((p) => {
      if (p instanceof RangeError) return p;
      const rs = scores[p.group]!;
      const loglikelihoods = rs.map((r) => r.logprob);
      const greedy = rs.map((r) => r.greedy);
      const unconditional = p.unconditional?.map((c) => this.unconditionalMemo.get(c)!);
      const chars = p.ex.continuations.map(charCount);
      const result: McItemResult = {
        line: p.line,
        gold: p.ex.gold,
        context: p.prefix + p.ex.contexts[0]!,
        choices: p.ex.continuations,
        loglikelihoods,
        chars,
        greedy,
        pred: mcPredictions(loglikelihoods, chars, unconditional),
      };
      if (unconditional) result.unconditional = unconditional;
      return result;
    });
  }
}

/** Per-item 0/1 scores of each rule (what the harness aggregates by mean). */
export function mcScores(results: readonly McItemResult[]): Record<"acc" | "acc_norm" | "paper", number[]> {
  return {
    acc: results.map((r) => (r.pred.acc === r.gold ? 1 : 0)),
    acc_norm: results.map((r) => (r.pred.acc_norm === r.gold ? 1 : 0)),
    paper: results.map((r) => (r.pred.paper === r.gold ? 1 : 0)),
  };
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
