/**
 * Evaluation: the LLaMA paper's zero-/few-shot protocol (multiple choice with acc, acc_norm
 * and the paper's rule; closed-book QA) and perplexity.
 *
 *   data.ts             JSONL / labels files, malformed lines reported and counted
 *   tasks.ts            task formats and lm-evaluation-harness prompts
 *   scorer.ts           log-likelihood of continuations, harness tokenisation, KV-cache reuse
 *   multiple-choice.ts  the three decision rules, few-shot sampling
 *   qa.ts               closed-book QA: prompt, answer cut, SQuAD normalisation, exact match
 *   perplexity.ts       sliding-window perplexity, bits per byte
 *   run.ts              one task end to end
 */
export { FormatError, parseJsonl, readLabels, defaultLabelsPath, type JsonlRecord, type SkippedLine } from "./data.js";
export {
  MC_TASKS, TASK_NAMES, UNCONDITIONAL_CONTEXT, fewshotText, hellaswagPreprocess, parseQa, pyCapitalize, taskKind,
  type McExample, type McTaskSpec, type PaperRule, type QaExample, type TaskKind,
} from "./tasks.js";
export {
  LoglikelihoodScorer, logSoftmaxAt, logSumExp, splitTrailingSpace,
  type EvalTokenizer, type LoglikelihoodResult, type RowStats, type ScorerOptions, type ScorerStats, type TokenizedRequest,
} from "./scorer.js";
export {
  MultipleChoiceEvaluator, charCount, mcMetrics, mcPredictions, sampleFewshot,
  type FewshotOptions, type McItemResult, type McMetrics, type McPredictions,
} from "./multiple-choice.js";
export { ClosedBookQaEvaluator, cutAnswer, exactMatch, normalizeAnswer, qaPrompt, type QaItemResult, type QaOptions } from "./qa.js";
export { documentNll, perplexityMetrics, slidingNll, type DocumentNll, type PerplexityMetrics, type PerplexityOptions } from "./perplexity.js";
export { runEvalTask, type EvalReport, type EvalSample, type EvalTaskOptions } from "./run.js";
