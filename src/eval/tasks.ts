/**
 * The tasks of the paper's Table 3, read from their public release formats (JSONL as
 * distributed; the Hugging Face `datasets` field layout is accepted too), with the prompts
 * of EleutherAI's lm-evaluation-harness (v0.4 task configs):
 *
 *   hellaswag   "{activity_label}: {ctx_a} {Ctx_b}" (harness preprocessing) → " {ending}"
 *   piqa        "Question: {goal}\nAnswer:" → " {sol1|sol2}"       (labels: valid-labels.lst)
 *   siqa        "Q: {context} {question}\nA:" → " {answerA|B|C}"   (labels: dev-labels.lst, 1-based)
 *   arc_easy / arc_challenge   "Question: {stem}\nAnswer:" → " {choice text}"
 *   boolq       "{passage}\nQuestion: {question}?\nAnswer:" → " no" | " yes"
 *   winogrande  partial scoring: "{sentence before _}{option}" → " {sentence after _}"
 *   openbookqa  "{stem}" → " {choice text}"
 *   (Social IQa's gold: "label" 1..3 from the record or dev-labels.lst, or v1.4's "correct": "A".."C")
 *   mc          generic: {"context", "choices", "gold"}; choices follow the context after one
 *               space (none when the context is empty or ends in whitespace)
 *
 * Few-shot prompts are built as the harness does: K solved examples, each
 * "{context}{delimiter}{gold continuation}", joined and followed by "\n\n".
 */
import { FormatError, asObject, index, str, strArray } from "./data.js";

export interface McExample {
  /** One context shared by all choices, or one per choice (WinoGrande's partial scoring). */
  contexts: string[];
  /** Per choice, the text scored after the context (without the delimiter). */
  continuations: string[];
  /** Put between context and continuation (lm-evaluation-harness's target_delimiter). */
  delimiter: string;
  gold: number;
}

/** How the paper picks an answer: by character-normalised log-likelihood, or (BoolQ, OpenBookQA) by logP(c|ctx) − logP(c|"Answer:"). */
export type PaperRule = "charnorm" | "unconditional";

export interface McTaskSpec {
  kind: "mc";
  name: string;
  paperRule: PaperRule;
  /** True when labels may come from a separate `*-labels.lst` file (PIQA, Social IQa). */
  labelsFile: boolean;
  /** Builds the example from one JSONL record (and its line of the labels file); throws FormatError. */
  parse(record: unknown, label: string | undefined): McExample;
}

/** The context the paper's unconditional rule conditions on. */
export const UNCONDITIONAL_CONTEXT = "Answer:";

const SPACE = " ";

/** Python's str.capitalize(): first character upper-cased, the rest lower-cased. */
export function pyCapitalize(s: string): string {
  const cps = [...s];
  if (cps.length === 0) return s;
  return cps[0]!.toUpperCase() + cps.slice(1).join("").toLowerCase();
}

/** lm-evaluation-harness's HellaSwag `preprocess`: WikiHow bracket artefacts removed. */
export function hellaswagPreprocess(text: string): string {
  let t = text.trim();
  t = t.split(" [title]").join(". ");
  t = t.replace(/\[.*?\]/g, "");
  t = t.split("  ").join(" ");
  return t;
}

function labelOf(o: Record<string, unknown>, key: string, external: string | undefined): unknown {
  if (o[key] !== undefined) return o[key];
  if (external !== undefined) return external;
  throw new FormatError(`no label: field "${key}" is missing and no labels file line was given`);
}

/** ARC and OpenBookQA: the release layout {question: {stem, choices: [{text, label}]}, answerKey} or HF's {question|question_stem, choices: {text: [], label: []}, answerKey}. */
function arcLike(o: Record<string, unknown>): { stem: string; texts: string[]; gold: number } {
  let stem: string;
  let texts: string[];
  let labels: string[];
  const q = o["question"];
  if (typeof q === "object" && q !== null && !Array.isArray(q)) {
    const qo = q as Record<string, unknown>;
    stem = str(qo, "stem");
    const ch = qo["choices"];
    if (!Array.isArray(ch) || ch.length < 2) throw new FormatError(`field "question.choices" must be an array of at least 2 {text, label}`);
    texts = [];
    labels = [];
    for (const c of ch) {
      const co = asObject(c);
      texts.push(str(co, "text"));
      labels.push(str(co, "label"));
    }
  } else {
    stem = typeof q === "string" ? q : str(o, "question_stem");
    const ch = asObject(o["choices"] ?? null);
    texts = strArray(ch, "text", 2);
    labels = strArray(ch, "label", 2);
    if (labels.length !== texts.length) throw new FormatError(`"choices.text" and "choices.label" differ in length`);
  }
  const key = str(o, "answerKey").trim();
  const gold = labels.indexOf(key);
  if (gold < 0) throw new FormatError(`answerKey "${key}" is not one of the labels ${labels.join(", ")}`);
  return { stem, texts, gold };
}

function simple(contexts: string[], continuations: string[], gold: number): McExample {
  return { contexts, continuations, delimiter: SPACE, gold };
}

export const MC_TASKS: Record<string, McTaskSpec> = {
  hellaswag: {
    kind: "mc",
    name: "hellaswag",
    paperRule: "charnorm",
    labelsFile: false,
    parse(record) {
      const o = asObject(record);
      const ctx = str(o, "ctx_a") + " " + pyCapitalize(str(o, "ctx_b"));
      const endings = strArray(o, "endings", 2);
      const gold = index(labelOf(o, "label", undefined), endings.length, "label");
      return simple([hellaswagPreprocess(str(o, "activity_label") + ": " + ctx)], endings.map(hellaswagPreprocess), gold);
    },
  },
  piqa: {
    kind: "mc",
    name: "piqa",
    paperRule: "charnorm",
    labelsFile: true,
    parse(record, label) {
      const o = asObject(record);
      const gold = index(labelOf(o, "label", label), 2, "label");
      return simple([`Question: ${str(o, "goal")}\nAnswer:`], [str(o, "sol1"), str(o, "sol2")], gold);
    },
  },
  siqa: {
    kind: "mc",
    name: "siqa",
    paperRule: "charnorm",
    labelsFile: true,
    parse(record, label) {
      const o = asObject(record);
      // Social IQa v1.4 JSONL: "correct": "A" | "B" | "C"; the leaderboard release:
      // dev-labels.lst (1-based); HF: "label": "1".."3".
      let gold: number;
      if (o["label"] === undefined && label === undefined && o["correct"] !== undefined) {
        const c = o["correct"];
        gold = typeof c === "string" ? ["A", "B", "C"].indexOf(c.trim()) : -1;
        if (gold < 0) throw new FormatError(`field "correct" ${JSON.stringify(c)} is not one of "A", "B", "C"`);
      } else {
        gold = index(labelOf(o, "label", label), 3, "label", 1);
      }
      return simple([`Q: ${str(o, "context")} ${str(o, "question")}\nA:`], [str(o, "answerA"), str(o, "answerB"), str(o, "answerC")], gold);
    },
  },
  arc_easy: {
    kind: "mc",
    name: "arc_easy",
    paperRule: "charnorm",
    labelsFile: false,
    parse(record) {
      const a = arcLike(asObject(record));
      return simple([`Question: ${a.stem}\nAnswer:`], a.texts, a.gold);
    },
  },
  arc_challenge: {
    kind: "mc",
    name: "arc_challenge",
    paperRule: "charnorm",
    labelsFile: false,
    parse(record) {
      const a = arcLike(asObject(record));
      return simple([`Question: ${a.stem}\nAnswer:`], a.texts, a.gold);
    },
  },
  boolq: {
    kind: "mc",
    name: "boolq",
    paperRule: "unconditional",
    labelsFile: false,
    parse(record) {
      const o = asObject(record);
      const v = o["answer"] !== undefined ? o["answer"] : o["label"];
      let gold: number;
      if (v === true || v === 1 || v === "true" || v === "True") gold = 1;
      else if (v === false || v === 0 || v === "false" || v === "False") gold = 0;
      else throw new FormatError(`field "answer" (or "label") must be true or false`);
      return simple([`${str(o, "passage")}\nQuestion: ${str(o, "question")}?\nAnswer:`], ["no", "yes"], gold);
    },
  },
  winogrande: {
    kind: "mc",
    name: "winogrande",
    paperRule: "charnorm",
    labelsFile: false,
    parse(record) {
      const o = asObject(record);
      const sentence = str(o, "sentence");
      const blank = sentence.indexOf("_");
      if (blank < 0) throw new FormatError(`field "sentence" has no blank "_"`);
      const gold = index(labelOf(o, "answer", undefined), 2, "answer", 1);
      const before = sentence.slice(0, blank);
      const after = sentence.slice(blank + 1).trim();
      return simple([before + str(o, "option1"), before + str(o, "option2")], [after, after], gold);
    },
  },
  openbookqa: {
    kind: "mc",
    name: "openbookqa",
    paperRule: "unconditional",
    labelsFile: false,
    parse(record) {
      const a = arcLike(asObject(record));
      return simple([a.stem], a.texts, a.gold);
    },
  },
  mc: {
    kind: "mc",
    name: "mc",
    paperRule: "charnorm",
    labelsFile: false,
    parse(record) {
      const o = asObject(record);
      const context = str(o, "context");
      const choices = strArray(o, "choices", 2);
      const gold = index(o["gold"], choices.length, "gold");
      const delimiter = context === "" || /\s$/.test(context) ? "" : SPACE;
      return { contexts: [context], continuations: choices, delimiter, gold };
    },
  },
};

/** The text of one solved example in a few-shot prompt. */
export function fewshotText(ex: McExample): string {
  const ctx = ex.contexts.length === 1 ? ex.contexts[0]! : ex.contexts[ex.gold]!;
  return ctx + ex.delimiter + ex.continuations[ex.gold]!;
}

/**
 * A closed-book QA item. Accepted records: NQ-open's release / HF layout {"question",
 * "answer": [...]}; TriviaQA's HF layout {"question", "answer": {"aliases": [...],
 * "normalized_aliases": [...], "value"}} (the harness's targets are the aliases); the
 * original TriviaQA release entries {"Question", "Answer": {"Aliases", "NormalizedAliases",
 * "Value", "HumanAnswers"?}} (read from its {"Data": [...]} JSON file); and {"question",
 * "answers": [...]}.
 */
export interface QaExample {
  question: string;
  /** The gold answers the harness compares with (NQ answers, TriviaQA aliases). */
  answers: string[];
  /** Already normalised gold answers of the release (TriviaQA NormalizedAliases + normalised HumanAnswers), for the official rule. */
  normalizedAnswers?: string[];
  /** HumanAnswers of the original TriviaQA release (normalised by the official rule). */
  humanAnswers?: string[];
}

function answerList(o: Record<string, unknown>, key: string): string[] {
  const v = o[key];
  return typeof v === "string" ? [v] : strArray(o, key, 1);
}

export function parseQa(record: unknown): QaExample {
  const o = asObject(record);
  if (o["Question"] !== undefined && o["question"] === undefined) {
    if (typeof o["Answer"] !== "object" || o["Answer"] === null) throw new FormatError(`field "Answer" ${o["Answer"] === undefined ? "is missing" : "must be an object"}`);
    const a = o["Answer"] as Record<string, unknown>;
    const ex: QaExample = { question: str(o, "Question"), answers: a["Aliases"] !== undefined ? strArray(a, "Aliases", 1) : [str(a, "Value")] };
    if (a["NormalizedAliases"] !== undefined) ex.normalizedAnswers = strArray(a, "NormalizedAliases", 1);
    if (a["HumanAnswers"] !== undefined) ex.humanAnswers = strArray(a, "HumanAnswers", 0);
    return ex;
  }
  const question = str(o, "question");
  if (o["answers"] !== undefined) return { question, answers: answerList(o, "answers") };
  const v = o["answer"];
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const a = v as Record<string, unknown>;
    const ex: QaExample = { question, answers: a["aliases"] !== undefined ? strArray(a, "aliases", 1) : [str(a, "value")] };
    if (a["normalized_aliases"] !== undefined) ex.normalizedAnswers = strArray(a, "normalized_aliases", 1);
    return ex;
  }
  return { question, answers: answerList(o, "answer") };
}

/** Tasks by name; nq_open (also "qa", "nq", "naturalquestions") and triviaqa are closed-book QA, "ppl" is perplexity. */
export type TaskKind = "mc" | "qa" | "perplexity";

/** Names accepted for the same task ("social_iqa" is the harness's name for siqa). */
const ALIASES: Record<string, string> = { social_iqa: "siqa", qa: "nq_open", nq: "nq_open", naturalquestions: "nq_open", ppl: "perplexity" };

/** The canonical name of a task ("nq" → "nq_open"); unknown names are returned as they are. */
export function canonicalTask(name: string): string {
  return ALIASES[name] ?? name;
}

export function taskKind(name: string): TaskKind | undefined {
  const t = canonicalTask(name);
  if (MC_TASKS[t]) return "mc";
  if (t === "nq_open" || t === "triviaqa") return "qa";
  if (t === "perplexity") return "perplexity";
  return undefined;
}

export const TASK_NAMES = [...Object.keys(MC_TASKS), "nq_open", "triviaqa", "perplexity"];

/**
 * What lm-evaluation-harness records about a task it also has (its YAML under
 * lm_eval/tasks/): its name there, version, splits and the metrics it lists. Our "mc" and
 * "perplexity" have no harness counterpart.
 */
export interface HarnessTaskInfo {
  harnessName: string;
  version: number;
  datasetPath: string;
  datasetName?: string;
  trainingSplit?: string;
  validationSplit?: string;
  testSplit?: string;
  /** The YAML's doc_to_text / doc_to_target / doc_to_choice (Jinja templates or field names). */
  docToText: string;
  docToTarget: string;
  docToChoice?: string | string[];
}

const SPLITS = { trainingSplit: "train", validationSplit: "validation" };
const ARC = { ...SPLITS, testSplit: "test", docToText: "Question: {{question}}\nAnswer:", docToTarget: "{{choices.label.index(answerKey)}}", docToChoice: "{{choices.text}}" };

export const HARNESS_TASKS: Record<string, HarnessTaskInfo> = {
  hellaswag: { harnessName: "hellaswag", version: 1.0, datasetPath: "Rowan/hellaswag", ...SPLITS, docToText: "{{query}}", docToTarget: "{{label}}", docToChoice: "choices" },
  piqa: { harnessName: "piqa", version: 1.0, datasetPath: "baber/piqa", ...SPLITS, docToText: "Question: {{goal}}\nAnswer:", docToTarget: "label", docToChoice: "{{[sol1, sol2]}}" },
  siqa: {
    harnessName: "social_iqa", version: 0.0, datasetPath: "lighteval/siqa", ...SPLITS,
    docToText: "Q: {{context}} {{question}}\nA:", docToTarget: "{{ (label|int) - 1 }}", docToChoice: "{{[answerA, answerB, answerC]}}",
  },
  arc_easy: { harnessName: "arc_easy", version: 1.0, datasetPath: "allenai/ai2_arc", datasetName: "ARC-Easy", ...ARC },
  arc_challenge: { harnessName: "arc_challenge", version: 1.0, datasetPath: "allenai/ai2_arc", datasetName: "ARC-Challenge", ...ARC },
  boolq: {
    harnessName: "boolq", version: 2.0, datasetPath: "aps/super_glue", datasetName: "boolq", ...SPLITS,
    docToText: "{{passage}}\nQuestion: {{question}}?\nAnswer:", docToTarget: "label", docToChoice: ["no", "yes"],
  },
  winogrande: {
    harnessName: "winogrande", version: 1.0, datasetPath: "allenai/winogrande", datasetName: "winogrande_xl", ...SPLITS,
    docToText: "preprocess_winogrande.doc_to_text", docToTarget: "preprocess_winogrande.doc_to_target", docToChoice: "preprocess_winogrande.doc_to_choice",
  },
  openbookqa: {
    harnessName: "openbookqa", version: 1.0, datasetPath: "allenai/openbookqa", datasetName: "main", ...SPLITS, testSplit: "test",
    docToText: "question_stem", docToTarget: "{{choices.label.index(answerKey.lstrip())}}", docToChoice: "{{choices.text}}",
  },
  nq_open: { harnessName: "nq_open", version: 4.0, datasetPath: "google-research-datasets/nq_open", ...SPLITS, docToText: "Q: {{question}}?\nA:", docToTarget: "{{answer}}" },
  triviaqa: {
    harnessName: "triviaqa", version: 3.0, datasetPath: "mandarjoshi/trivia_qa", datasetName: "rc.nocontext", ...SPLITS,
    docToText: "Question: {{question}}?\nAnswer:", docToTarget: "{{answer.aliases}}",
  },
};
