/** `llama-ts detokenize`: token ids -> text with a SentencePiece tokenizer.model or a Hugging Face tokenizer.json. */
import type { Command } from "commander";
import { loadTokenizer } from "../../tokenizer/load.js";
import { UserError, parseIntList } from "../../util/errors.js";

interface DetokenizeOptions {
  tokenizer: string;
  ids: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("detokenize")
    .summary("token ids -> text (SentencePiece-exact)")
    .description(
      "Decode token ids into text exactly as SentencePiece does: control tokens (<s>, </s>) are skipped, " +
        "byte pieces (<0x..>) are joined back into UTF-8 (malformed bytes become U+FFFD), <unk> shows as \" \u2047 \". " +
        "With a tokenizer.json, decoding is Hugging Face's decode(ids, skip_special_tokens=True). " +
        "Prints the text and a newline (with --json: {\"text\": \"...\"}).",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  llama-ts detokenize --tokenizer tokenizer.model --ids 1,15043,3186\n" +
        "  llama-ts detokenize --tokenizer Meta-Llama-3-8B/tokenizer.json --ids 128000,9906,1917",
    )
    .requiredOption("--tokenizer <file>", "tokenizer.model, tokenizer.json, or a model folder holding one")
    .requiredOption("--ids <ids>", "comma-separated token ids, e.g. 1,15043,3186 (the output format of `tokenize`)")
    .option("--json", "print {\"text\": ...} instead of the bare text")
    .action((opts: DetokenizeOptions) => run(opts));
}

function run(opts: DetokenizeOptions): void {
  const ids = parseIntList(opts.ids, "--ids");
  const tok = loadTokenizer(opts.tokenizer);
  for (const id of ids) {
    if (id < 0 || id >= tok.vocabSize) {
      throw new UserError(`--ids: token id ${id} is outside the tokenizer's vocabulary [0, ${tok.vocabSize})`);
    }
  }
  const text = tok.decode(ids);
  process.stdout.write((opts.json ? JSON.stringify({ text }) : text) + "\n");
}
