/** `llama-ts tokenize`: text -> token ids with a SentencePiece tokenizer.model or a Hugging Face tokenizer.json. */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { loadTokenizer } from "../../tokenizer/load.js";
import { UserError } from "../../util/errors.js";

interface TokenizeOptions {
  tokenizer: string;
  text?: string;
  file?: string;
  bos?: boolean;
  eos?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("tokenize")
    .summary("text -> token ids (SentencePiece- / HF tokenizers-exact)")
    .description(
      "Encode text into token ids exactly as SentencePiece does, with a BPE tokenizer.model such as LLaMA's, " +
        "or exactly as Hugging Face's tokenizers library does, with a tokenizer.json (Llama 2, Mistral, Llama 3). " +
        "Special-token strings in the text (<s>, <|eot_id|>) are encoded as plain text; only --bos/--eos add special ids.\n" +
        "Output: the ids separated by commas (e.g. 1,15043,3186), which is what `detokenize --ids` takes. " +
        "With --file, one line of ids per input line (an empty input line gives an empty output line). " +
        "With --json: {\"ids\": [...]} for --text, {\"ids\": [[...], ...]} (one array per line) for --file.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  llama-ts tokenize --tokenizer tokenizer.model --text \"Hello world\" --bos\n" +
        "  llama-ts tokenize --tokenizer tokenizer.model --file corpus.txt --json > ids.json\n" +
        "  llama-ts tokenize --tokenizer Meta-Llama-3-8B/tokenizer.json --text \"Hello world\" --bos",
    )
    .requiredOption("--tokenizer <file>", "tokenizer.model, tokenizer.json, or a model folder holding one")
    .option("--text <text>", "the text to encode (as one piece of text, newlines included)")
    .option("--file <file>", "encode each line of this UTF-8 file (\"-\" reads stdin); the newline itself is not encoded")
    .option("--bos", "prepend the BOS id (1 for LLaMA, 128000 for Llama 3) to each sequence")
    .option("--eos", "append the EOS id (2 for LLaMA) to each sequence")
    .option("--json", "print JSON instead of comma-separated ids")
    .action((opts: TokenizeOptions) => run(opts));
}

function run(opts: TokenizeOptions): void {
  if ((opts.text === undefined) === (opts.file === undefined)) {
    throw new UserError("give exactly one of --text TEXT or --file FILE");
  }
  const tok = loadTokenizer(opts.tokenizer);
  const encodeOpts = { bos: opts.bos === true, eos: opts.eos === true };
  if (opts.text !== undefined) {
    const ids = tok.encode(opts.text, encodeOpts);
    process.stdout.write((opts.json ? JSON.stringify({ ids }) : ids.join(",")) + "\n");
    return;
  }
  const lines = splitLines(readText(opts.file!));
  const all = lines.map((line) => tok.encode(line, encodeOpts));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ids: all }) + "\n");
    return;
  }
  const out: string[] = [];
  for (const ids of all) out.push(ids.join(","));
  process.stdout.write(out.length > 0 ? out.join("\n") + "\n" : "");
}

function readText(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`--file: cannot read ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}

/** Lines without their "\n"; a final newline does not start another (empty) line. */
export function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
