/**
 * Closed-book question answering exactly as lm-evaluation-harness's `nq_open` (version 4)
 * and `triviaqa` (version 3) tasks (lm_eval/tasks/nq_open/nq_open.yaml,
 * lm_eval/tasks/triviaqa/default.yaml):
 *
 *   nq_open   description "Answer these questions:\n\n", doc_to_text "Q: {question}?\nA:",
 *             few-shot delimiter "\n"
 *   triviaqa  no description, doc_to_text "Question: {question}?\nAnswer:", few-shot
 *             delimiter "\n\n"
 *
 *   prompt = description + Σ_shots (text(shot) + " " + shot.answers[0] + delimiter) + text(q)
 *
 * (target delimiter " "; a shot shows its first answer, as the harness's build_qa_turn does
 * with a list target). Greedy decoding until "\n", "." or "," (or EOS), at most
 * `max_gen_toks` = 256 tokens; the text is cut before the first stop string and stripped
 * (filters remove_whitespace, take_first), then compared with every gold answer by the
 * harness's exact_match (lm_eval/api/metrics.py `exact_match_hf_evaluate`), correct when any
 * matches:
 *
 *   both strings: re.sub(r, "", s) for each regex to ignore (nq_open only:
 *   `\b(?:The |the |An |A |The |a |an )`), then lower case, then ASCII punctuation deleted.
 *   Nothing else: whitespace is not collapsed, and for triviaqa "The Beatles" ≠ "Beatles".
 *
 * `normalization: "triviaqa-official"` compares instead as the official TriviaQA evaluation
 * (triviaqa/evaluation/triviaqa_evaluation.py `normalize_answer`): "_" → " ", lower case,
 * ASCII punctuation and ‘ ’ ´ ` → " ", articles a/an/the removed, whitespace collapsed;
 * the gold side is the release's NormalizedAliases (plus normalised HumanAnswers) when the
 * data has them, else each answer normalised the same way.
 */
import { generateTokens } from "../generate/generate.js";
import type { LlamaModel } from "../model/llama.js";
import { sampleFewshot } from "./multiple-choice.js";
import { PyRandom } from "./py-random.js";
import type { EvalTokenizer } from "./scorer.js";
import type { QaExample } from "./tasks.js";

/** The two harness tasks; "qa", "nq" and "naturalquestions" are nq_open. */
export type QaStyle = "nq_open" | "triviaqa";
export type QaNormalization = "harness" | "triviaqa-official";
export const QA_NORMALIZATIONS: readonly QaNormalization[] = ["harness", "triviaqa-official"];

export interface QaFormat {
  description: string;
  /** Before and after the question (doc_to_text). */
  questionPrefix: string;
  questionSuffix: string;
  targetDelimiter: string;
  fewshotDelimiter: string;
  /** Generation stops before the first of these. */
  until: readonly string[];
  /** exact_match's regexes_to_ignore (Python syntax, as in the task YAML). */
  regexesToIgnore: readonly string[];
  version: number;
}

export const QA_FORMATS: Record<QaStyle, QaFormat> = {
  nq_open: {
    description: "Answer these questions:\n\n",
    questionPrefix: "Q: ",
    questionSuffix: "?\nA:",
    targetDelimiter: " ",
    fewshotDelimiter: "\n",
    until: ["\n", ".", ","],
    regexesToIgnore: ["\\b(?:The |the |An |A |The |a |an )"],
    version: 4.0,
  },
  triviaqa: {
    description: "",
    questionPrefix: "Question: ",
    questionSuffix: "?\nAnswer:",
    targetDelimiter: " ",
    fewshotDelimiter: "\n\n",
    until: ["\n", ".", ","],
    regexesToIgnore: [],
    version: 3.0,
  },
};

/** The harness's max_gen_toks default (lm_eval/models/utils.py normalize_gen_kwargs). */
export const HARNESS_MAX_GEN_TOKS = 256;

// Python's str.isspace() characters (str.strip / str.split without arguments).
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "gu");
const PY_SPLIT = new RegExp(`[${PY_SPACE}]+`, "u");
// Python's \w for str patterns: letters, numbers, underscore.
const PY_WORD = "[\\p{L}\\p{N}_]";
const ASCII_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/** Python's str.strip() with no argument. */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, "");
}

/** Python's \b as a JS (Unicode) pattern: \b( before a word character, )\b after one. */
function pyRegex(python: string): RegExp {
  // Only the constructs the QA task configs use: \b before a group of word-initial
  // alternatives, and \b(...)\b around whole words.
  const src = python
    .replace(/^\\b/, `(?<!${PY_WORD})`)
    .replace(/\\b$/, `(?!${PY_WORD})`);
  return new RegExp(src, "gu");
}

const HARNESS_REGEXES = new Map<string, RegExp>();
function harnessRegex(r: string): RegExp {
  let re = HARNESS_REGEXES.get(r);
  if (!re) HARNESS_REGEXES.set(r, (re = pyRegex(r)));
  return re;
}

/** One side of the harness's exact_match (regexes removed, lower case, ASCII punctuation deleted). */
export function harnessNormalize(s: string, regexesToIgnore: readonly string[]): string {
  let t = s;
  for (const r of regexesToIgnore) t = t.replace(harnessRegex(r), "");
  t = t.toLowerCase();
  return [...t].filter((c) => !ASCII_PUNCTUATION.includes(c)).join("");
}

const OFFICIAL_PUNCTUATION = ASCII_PUNCTUATION + "\u2018\u2019\u00b4`";
const ARTICLES = pyRegex("\\b(a|an|the)\\b");

/** The official TriviaQA evaluation's normalize_answer. */
export function triviaqaNormalize(s: string): string {
  let t = s.split("_").join(" ").toLowerCase();
  t = [...t].map((c) => (OFFICIAL_PUNCTUATION.includes(c) ? " " : c)).join("");
  t = t.replace(ARTICLES, " ");
  return pyStrip(t.split(PY_SPLIT).filter((w) => w !== "").join(" "));
}

/** The generated text cut before the first stop string, then stripped (remove_whitespace). */
export function cutAnswer(text: string, until: readonly string[] = QA_FORMATS.nq_open.until): string {
  let s = text;
  for (const stop of until) if (stop.length > 0) s = s.split(stop)[0]!;
  return pyStrip(s);
}

/** Whether the prediction matches any gold answer under the task's (or the official) rule. */
export function exactMatch(prediction: string, ex: QaExample, style: QaStyle, normalization: QaNormalization = "harness"): boolean {
  if (normalization === "triviaqa-official") {
    const p = triviaqaNormalize(prediction);
    const gold = (ex.normalizedAnswers ?? ex.answers.map(triviaqaNormalize)).concat((ex.humanAnswers ?? []).map(triviaqaNormalize));
    return gold.some((g) => g === p);
  }
  const regexes = QA_FORMATS[style].regexesToIgnore;
  const p = harnessNormalize(prediction, regexes);
  return ex.answers.some((a) => harnessNormalize(a, regexes) === p);
}

export function qaQuestionText(question: string, style: QaStyle): string {
  const f = QA_FORMATS[style];
  return f.questionPrefix + question + f.questionSuffix;
}

/** The full prompt: description, solved shots, the question. */
export function qaPrompt(question: string, shots: readonly QaExample[], style: QaStyle): string {
  const f = QA_FORMATS[style];
  let s = f.description;
  for (const shot of shots) s += qaQuestionText(shot.question, style) + f.targetDelimiter + shot.answers[0]! + f.fewshotDelimiter;
  return s + qaQuestionText(question, style);
}

export interface QaItemResult {
  line: number;
  question: string;
  answers: string[];
  prompt: string;
  generated: string;
  prediction: string;
  correct: boolean;
}

export interface QaOptions {
  style?: QaStyle;
  normalization?: QaNormalization;
  shots?: number;
  /** Solved examples the shots are drawn from (the training split when one is given). */
  pool?: ReadonlyArray<{ line: number; example: QaExample }>;
  /** The pool is the evaluated file itself: an item never sees itself as a shot. */
  sameFile?: boolean;
  seed?: number;
  /** Most tokens generated per answer (default 256, the harness's max_gen_toks). */
  maxTokens?: number;
  /** Prepend BOS (default true). */
  bos?: boolean;
}

export class ClosedBookQaEvaluator {
  private readonly rnd: PyRandom;
  readonly style: QaStyle;
  constructor(readonly model: LlamaModel, readonly tokenizer: EvalTokenizer, readonly opts: QaOptions = {}) {
    this.rnd = new PyRandom(opts.seed ?? 1234);
    this.style = opts.style ?? "nq_open";
  }

  evaluate(line: number, ex: QaExample): QaItemResult {
    const k = this.opts.shots ?? 0;
    const shots = k > 0 ? sampleFewshot(this.opts.pool ?? [], k, this.rnd, this.opts.sameFile ? line : undefined).map((s) => s.example) : [];
    const prompt = qaPrompt(ex.question, shots, this.style);
    const until = QA_FORMATS[this.style].until;
    const maxTokens = this.opts.maxTokens ?? HARNESS_MAX_GEN_TOKS;
    let ids = this.tokenizer.encode(prompt, { bos: this.opts.bos ?? true });
    // The harness left-truncates the context to max_length - max_gen_toks.
    const room = Math.max(1, this.model.config.maxPositionEmbeddings - maxTokens);
    if (ids.length > room) ids = ids.slice(ids.length - room);
    const out: number[] = [];
    let text = "";
    for (const id of generateTokens(this.model, ids, { maxTokens, temperature: 0, topP: 1, seed: 0, eosTokenId: this.tokenizer.eosId })) {
      out.push(id);
      text = this.tokenizer.decode(out);
      if (until.some((s) => text.includes(s))) break;
    }
    const prediction = cutAnswer(text, until);
    const correct = exactMatch(prediction, ex, this.style, this.opts.normalization ?? "harness");
    return { line, question: ex.question, answers: ex.answers, prompt, generated: text, prediction, correct };
  }
}
