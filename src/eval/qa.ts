/**
 * Closed-book question answering (NaturalQuestions, TriviaQA) as in the paper: greedy
 * decoding after the prompt
 *
 *   Answer these questions:\nQ: {shot question}\nA: {shot answer}\n ... Q: {question}\nA:
 *
 * the answer cut at the first line break, dot or comma (the harness's stop strings for
 * nq_open/triviaqa: "\n", ".", ","), then exact match against any gold answer after SQuAD's
 * normalisation (lower case, no punctuation, no articles a/an/the, single spaces).
 */
import { generateTokens } from "../generate/generate.js";
import type { LlamaModel } from "../model/llama.js";
import { Rng } from "../util/rng.js";
import { sampleFewshot } from "./multiple-choice.js";
import type { EvalTokenizer } from "./scorer.js";
import type { QaExample } from "./tasks.js";

const PUNCTUATION = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

/** SQuAD's normalize_answer: lower, remove punctuation, remove articles, fix whitespace. */
export function normalizeAnswer(s: string): string {
  let t = s.toLowerCase();
  t = [...t].filter((c) => !PUNCTUATION.has(c)).join("");
  t = t.replace(/\b(a|an|the)\b/g, " ");
  return t.split(/\s+/).filter((w) => w !== "").join(" ");
}

/** The generated text up to the first line break, dot or comma, trimmed. */
export function cutAnswer(text: string): string {
  const m = /[\n.,]/.exec(text);
  return (m ? text.slice(0, m.index) : text).trim();
}

export function exactMatch(prediction: string, answers: readonly string[]): boolean {
  const p = normalizeAnswer(prediction);
  return answers.some((a) => normalizeAnswer(a) === p);
}

export function qaPrompt(question: string, shots: readonly QaExample[]): string {
  let s = "Answer these questions:\n";
  for (const shot of shots) s += `Q: ${shot.question}\nA: ${shot.answers[0]}\n`;
  return s + `Q: ${question}\nA:`;
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
  shots?: number;
  pool?: ReadonlyArray<{ line: number; example: QaExample }>;
  sameFile?: boolean;
  seed?: number;
  /** Most tokens generated per answer (default 32). */
  maxTokens?: number;
  /** Prepend BOS (default true). */
  bos?: boolean;
}

export class ClosedBookQaEvaluator {
  private readonly rng: Rng;
  constructor(readonly model: LlamaModel, readonly tokenizer: EvalTokenizer, readonly opts: QaOptions = {}) {
    this.rng = new Rng(opts.seed ?? 1234);
  }

  evaluate(line: number, ex: QaExample): QaItemResult {
    const k = this.opts.shots ?? 0;
    const shots = k > 0 ? sampleFewshot(this.opts.pool ?? [], k, this.rng, this.opts.sameFile ? line : undefined).map((s) => s.example) : [];
    const prompt = qaPrompt(ex.question, shots);
    const maxTokens = this.opts.maxTokens ?? 32;
    let ids = this.tokenizer.encode(prompt, { bos: this.opts.bos ?? true });
    const room = this.model.config.maxPositionEmbeddings - maxTokens;
    if (ids.length > room) ids = ids.slice(ids.length - room);
    const out: number[] = [];
    let text = "";
    for (const id of generateTokens(this.model, ids, { maxTokens, temperature: 0, topP: 1, seed: 0, eosTokenId: this.tokenizer.eosId })) {
      out.push(id);
      text = this.tokenizer.decode(out);
      if (/[\n.,]/.test(text)) break;
    }
    const prediction = cutAnswer(text);
    return { line, question: ex.question, answers: ex.answers, prompt, generated: text, prediction, correct: exactMatch(prediction, ex.answers) };
  }
}
