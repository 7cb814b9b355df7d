import fs from "node:fs";
import type { Command } from "commander";
import { applyThreads, checkTokenIds, MODEL_HELP } from "../common.js";
import { loadModel } from "../../runtime/load.js";
import { GenerationSession } from "../../generate/session.js";
import type { GenerateOptions, GenerationResult } from "../../generate/types.js";
import { parseIntList, parseNumberOption, UserError } from "../../util/errors.js";

interface GenerateCliOptions {
  model: string;
  tokenizer?: string;
  prompt?: string;
  promptFile?: string;
  tokens?: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  topK: string;
  minP: string;
  repetitionPenalty: string;
  stop: string[];
  seed: string;
  json?: boolean;
  threads?: string;
  bos: boolean;
}

export function register(program: Command): void {
  program
    .command("generate")
    .summary("generate text or token ids from a model (streaming, greedy/temperature/top-p)")
    .description(
      "Generate text (or token ids) from a model, streaming to stdout.\n" +
        "Sampling follows Meta's reference: --temperature 0 is greedy; otherwise softmax(logits/T) restricted to the " +
        "smallest set of tokens whose probability reaches --top-p (after the optional --top-k and --min-p filters). " +
        "Generation stops at EOS (not printed), a --stop string (not printed) or --max-tokens.\n\n" +
        'With --json prints one object {"tokens": [generated ids], "text": "...", "stop_reason": "...", "timings": {...}} ' +
        "(text only when the model has a tokenizer).\n\n" +
        "Examples:\n" +
        '  llama-ts generate --model runs/start/model --prompt "Once upon a time" --max-tokens 64\n' +
        "  llama-ts generate --model stories15M.gguf --tokens 1,9038,2501 --temperature 0 --json\n" +
        '  llama-ts generate --model stories15M.bin --tokenizer tokenizer.model --prompt "The cat" --stop "."',
    )
    .requiredOption("--model <path>", MODEL_HELP)
    .option("--tokenizer <file>", "tokenizer.model to use (for llama2.c files, or to replace the model's own)")
    .option("--prompt <text>", 'prompt text (needs a tokenizer); BOS is prepended; "-" reads it from stdin')
    .option("--prompt-file <file>", "read the prompt text from a UTF-8 file")
    .option("--tokens <ids>", "prompt as comma-separated token ids, used as given, e.g. 1,2,3")
    .option("--max-tokens <n>", "maximum number of tokens to generate", "128")
    .option("--temperature <t>", "sampling temperature; 0 = greedy", "0.6")
    .option("--top-p <p>", "nucleus sampling mass in (0, 1]", "0.9")
    .option("--top-k <k>", "keep only the k most likely tokens; 0 = off", "0")
    .option("--min-p <p>", "drop tokens below this fraction of the top token's probability; 0 = off", "0")
    .option("--repetition-penalty <r>", "penalise tokens seen in the last 64 (logit/r if positive, ·r if negative); 1 = off", "1")
    .option("--stop <text>", "stop before this string (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option("--seed <s>", "random seed for sampling", "0")
    .option("--no-bos", "with --prompt, do not prepend the BOS token")
    .option("--json", "print one JSON object instead of streaming")
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .action((opts: GenerateCliOptions) => run(opts));
}

async function run(opts: GenerateCliOptions): Promise<void> {
  applyThreads(opts.threads);
  if ([opts.prompt, opts.promptFile, opts.tokens].filter((v) => v !== undefined).length !== 1) {
    throw new UserError("give exactly one of --prompt TEXT, --prompt-file FILE or --tokens 1,2,3");
  }
  if (opts.promptFile !== undefined) opts.prompt = readPromptFile(opts.promptFile);
  else if (opts.prompt === "-") opts.prompt = readPromptFile("/dev/stdin", "stdin");
  const gen: GenerateOptions = {
    maxTokens: parseNumberOption(opts.maxTokens, "--max-tokens", { min: 0, integer: true }),
    temperature: parseNumberOption(opts.temperature, "--temperature", { min: 0 }),
    topP: parseNumberOption(opts.topP, "--top-p", { min: 0, max: 1 }),
    topK: parseNumberOption(opts.topK, "--top-k", { min: 0, integer: true }),
    minP: parseNumberOption(opts.minP, "--min-p", { min: 0, max: 1 }),
    repetitionPenalty: parseNumberOption(opts.repetitionPenalty, "--repetition-penalty", { min: 0.01, max: 100 }),
    seed: parseNumberOption(opts.seed, "--seed", { integer: true }),
    stop: opts.stop,
    bos: opts.bos,
  };
  if (gen.topP === 0) throw new UserError("--top-p must be above 0 (use --temperature 0 for greedy decoding)");
  const lm = await loadModel(opts.model, opts.tokenizer === undefined ? {} : { tokenizer: opts.tokenizer });
  const { tokenizer, config } = lm;

  let prompt: number[];
  if (opts.prompt !== undefined) {
    if (!tokenizer) throw new UserError(`--prompt needs a tokenizer, but ${opts.model} has none; pass --tokenizer FILE or --tokens`);
    prompt = tokenizer.encode(opts.prompt, { bos: opts.bos });
    if (prompt.length === 0) throw new UserError("--prompt is empty; give some text (or keep BOS)");
  } else {
    prompt = parseIntList(opts.tokens!, "--tokens");
    checkTokenIds(prompt, config.vocabSize, "--tokens");
  }
  if (prompt.length > config.maxPositionEmbeddings) {
    throw new UserError(`the prompt has ${prompt.length} tokens, more than the model's context length ${config.maxPositionEmbeddings}`);
  }
  if (gen.stop!.length > 0 && !tokenizer) throw new UserError("--stop needs a tokenizer (stop strings are matched in the text)");

  const session = new GenerationSession(lm, { parallel: 1 });
  let result: GenerationResult;
  if (opts.json) {
    result = await session.generate(prompt, gen);
    const t = result.timings;
    // The text is SentencePiece's decode of the generated ids (as before stop strings existed),
    // cut before a stop string that ended generation.
    const text = tokenizer ? cutAtStop(tokenizer.decode(result.tokens), result.stopReason === "stop" ? gen.stop! : []) : undefined;
    const out = {
      tokens: result.tokens,
      ...(text === undefined ? {} : { text }),
      stop_reason: result.stopReason,
      timings: {
        prompt_tokens: prompt.length,
        ttft_ms: round(t.ttftMs),
        prefill_ms: round(t.prefillMs),
        decode_ms: round(t.decodeMs),
        decode_tokens_per_second: Number.isFinite(t.decodeTokensPerSecond) ? round(t.decodeTokensPerSecond) : null,
      },
    };
    process.stdout.write(JSON.stringify(out) + "\n");
    return;
  }

  // Streaming: with a tokenizer, the prompt then each new piece of text as soon as it is final
  // (UTF-8 safe, stop strings held back); without one, the ids.
  if (tokenizer) process.stdout.write(tokenizer.decode(prompt));
  const it = session.stream(prompt, gen);
  let count = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      result = r.value;
      break;
    }
    if (tokenizer) process.stdout.write(r.value.text);
    else for (const id of r.value.tokens) process.stdout.write((count++ > 0 ? " " : "") + String(id));
  }
  process.stdout.write("\n");
  const t = result.timings;
  const tps = t.decodeTokensPerSecond;
  process.stderr.write(
    `[${prompt.length} prompt tokens in ${t.prefillMs.toFixed(0)} ms, ${result.tokens.length} generated` +
      `${Number.isFinite(tps) ? `, ${tps.toFixed(1)} tokens/s` : ""}; stopped: ${result.stopReason}]\n`,
  );
}

const round = (v: number): number => Math.round(v * 100) / 100;

function cutAtStop(text: string, stops: readonly string[]): string {
  let cut = text.length;
  for (const s of stops) {
    const i = s.length > 0 ? text.indexOf(s) : -1;
    if (i >= 0 && i < cut) cut = i;
  }
  return text.slice(0, cut);
}

function readPromptFile(file: string, name = file): string {
  try {
    if (file !== "/dev/stdin" && !fs.statSync(file).isFile()) throw new UserError(`--prompt-file ${name} is not a file`);
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read the prompt from ${name}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
}
