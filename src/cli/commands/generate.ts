import type { Command } from "commander";
import { applyThreads, checkTokenIds, loadModel } from "../common.js";
import { generateTokens, type GenerateStats } from "../../generate/generate.js";
import { parseIntList, parseNumberOption, UserError } from "../../util/errors.js";

interface GenerateCliOptions {
  model: string;
  prompt?: string;
  tokens?: string;
  maxTokens: string;
  temperature: string;
  topP: string;
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
      "Generate text (or token ids) from a model folder, streaming to stdout.\n" +
        "Sampling follows Meta's reference: --temperature 0 is greedy; otherwise softmax(logits/T) restricted to the " +
        "smallest set of tokens whose probability reaches --top-p. Generation stops at EOS (not printed) or --max-tokens.\n\n" +
        "With --json prints one object {\"tokens\": [generated ids], \"text\": \"...\"} (text only when the folder has tokenizer.model).",
    )
    .requiredOption("--model <dir>", "model folder (config.json + model.safetensors [+ tokenizer.model]) or a .gguf file")
    .option("--prompt <text>", "prompt text (needs tokenizer.model in the model folder); BOS is prepended")
    .option("--tokens <ids>", "prompt as comma-separated token ids, used as given, e.g. 1,2,3")
    .option("--max-tokens <n>", "maximum number of tokens to generate", "128")
    .option("--temperature <t>", "sampling temperature; 0 = greedy", "0.6")
    .option("--top-p <p>", "nucleus sampling mass in (0, 1]", "0.9")
    .option("--seed <s>", "random seed for sampling", "0")
    .option("--no-bos", "with --prompt, do not prepend the BOS token")
    .option("--json", "print one JSON object instead of streaming")
    .option("--threads <n>", "kernel threads (default: all cores)")
    .action((opts: GenerateCliOptions) => run(opts));
}

function run(opts: GenerateCliOptions): void {
  applyThreads(opts.threads);
  if ((opts.prompt === undefined) === (opts.tokens === undefined)) {
    throw new UserError("give exactly one of --prompt TEXT or --tokens 1,2,3");
  }
  const maxTokens = parseNumberOption(opts.maxTokens, "--max-tokens", { min: 0, integer: true });
  const temperature = parseNumberOption(opts.temperature, "--temperature", { min: 0 });
  const topP = parseNumberOption(opts.topP, "--top-p", { min: 0, max: 1 });
  if (topP === 0) throw new UserError("--top-p must be above 0 (use --temperature 0 for greedy decoding)");
  const seed = parseNumberOption(opts.seed, "--seed", { integer: true });
  const loaded = loadModel(opts.model);
  const { folder, model } = loaded;
  const tokenizer = loaded.tokenizer();
  if (tokenizer && tokenizer.vocabSize > model.config.vocabSize) {
    throw new UserError(`${folder.tokenizerPath}: the tokenizer has ${tokenizer.vocabSize} pieces but the model's vocab_size is ${model.config.vocabSize}`);
  }

  let prompt: number[];
  if (opts.prompt !== undefined) {
    if (!tokenizer) throw new UserError(`--prompt needs a tokenizer, but ${opts.model} has no tokenizer.model; pass --tokens instead`);
    prompt = tokenizer.encode(opts.prompt, { bos: opts.bos });
    if (prompt.length === 0) throw new UserError("--prompt is empty; give some text (or keep BOS)");
  } else {
    prompt = parseIntList(opts.tokens!, "--tokens");
    checkTokenIds(prompt, model.config.vocabSize, "--tokens");
  }
  if (prompt.length > model.config.maxPositionEmbeddings) {
    throw new UserError(`the prompt has ${prompt.length} tokens, more than the model's context length ${model.config.maxPositionEmbeddings}`);
  }

  const gen = generateTokens(model, prompt, { maxTokens, temperature, topP, seed });
  const generated: number[] = [];
  let stats: GenerateStats;
  if (opts.json) {
    for (;;) {
      const r = gen.next();
      if (r.done) { stats = r.value; break; }
      generated.push(r.value);
    }
    const out: { tokens: number[]; text?: string } = { tokens: generated };
    if (tokenizer) out.text = tokenizer.decode(generated);
    process.stdout.write(JSON.stringify(out) + "\n");
    return;
  }

  // Streaming: with a tokenizer, print the prompt then each new piece of text as soon as it
  // is final (an incremental decoder: byte-fallback pieces wait until their UTF-8 character is
  // complete, and SentencePiece's spacing stays right); without one, print the ids.
  const stream = tokenizer?.decodeStream();
  if (stream) for (const id of prompt) process.stdout.write(stream.push(id));
  for (;;) {
    const r = gen.next();
    if (r.done) { stats = r.value; break; }
    generated.push(r.value);
    if (stream) process.stdout.write(stream.push(r.value));
    else process.stdout.write((generated.length > 1 ? " " : "") + String(r.value));
  }
  if (stream) process.stdout.write(stream.flush());
  process.stdout.write("\n");
  const tps = stats.generatedTokens > 1 ? (stats.generatedTokens - 1) / stats.decodeSeconds : NaN;
  process.stderr.write(
    `[${stats.promptTokens} prompt tokens in ${(stats.prefillSeconds * 1000).toFixed(0)} ms, ${stats.generatedTokens} generated` +
      `${Number.isFinite(tps) ? `, ${tps.toFixed(1)} tokens/s` : ""}; stopped: ${stats.stopReason}]\n`,
  );
}
