/**
 * Evaluation: the LLaMA paper's zero-/few-shot protocol (multiple choice with acc, acc_norm
 * and the paper's rule; closed-book QA) and perplexity.
 *
 *   data.ts             JSONL / labels files, malformed lines reported and counted
 *   tasks.ts            task formats and lm-evaluation-harness prompts
 *   scorer.ts           log-likelihood of continuations, harness tokenisation, KV-cache reuse
 *   multiple-choice.ts  the three decision rules, few-shot sampling
 *   qa.ts               closed-book QA: harness nq_open/triviaqa prompts, answer cut, exact match
 *   py-random.ts        Python's random.Random + sample (the harness's few-shot draw)
 *   stats.ts            standard errors (the harness's mean_stderr)
 *   results.ts          the harness's results JSON (--output-path)
 *   perplexity.ts       sliding-window perplexity, bits per byte
 *   run.ts              one task end to end
 */
export { FormatError, parseJsonl, readLabels, readRecords, defaultLabelsPath, placeOf, type JsonlRecord, type RecordSet, type SkippedLine } from "./data.js";
export {
  HARNESS_TASKS, MC_TASKS, TASK_NAMES, UNCONDITIONAL_CONTEXT, canonicalTask, fewshotText, hellaswagPreprocess, parseQa, pyCapitalize, taskKind,
  type HarnessTaskInfo, type McExample, type McTaskSpec, type PaperRule, type QaExample, type TaskKind,
} from "./tasks.js";
export {
  LoglikelihoodScorer, TooLongError, logSoftmaxAt, logSumExp, splitTrailingSpace,
  type EvalTokenizer, type LoglikelihoodResult, type RowStats, type ScorerOptions, type ScorerStats, type TokenizedRequest,
} from "./scorer.js";
export {
  MultipleChoiceEvaluator, charCount, mcMetrics, mcPredictions, mcScores, sampleFewshot,
  type FewshotOptions, type McItemResult, type McMetrics, type McPredictions,
} from "./multiple-choice.js";
export {
  ClosedBookQaEvaluator, HARNESS_MAX_GEN_TOKS, QA_FORMATS, QA_NORMALIZATIONS, cutAnswer, exactMatch, harnessNormalize, pyStrip, qaPrompt, qaQuestionText,
  triviaqaNormalize, type QaFormat, type QaItemResult, type QaNormalization, type QaOptions, type QaStyle,
} from "./qa.js";
export { PyRandom } from "./py-random.js";
export { meanStderr } from "./stats.js";
export { documentNll, perplexityMetrics, slidingNll, type DocumentNll, type PerplexityMetrics, type PerplexityOptions } from "./perplexity.js";
export { runEvalTask, type EvalReport, type EvalSample, type EvalTaskOptions } from "./run.js";
export {
  PyFloat, checkOutputPath, harnessDateId, harnessResults, pythonJson, resultsFilePath, resultsTaskName, sanitizeModelName, writeHarnessResults,
  type Json, type RunInfo,
} from "./results.js";
