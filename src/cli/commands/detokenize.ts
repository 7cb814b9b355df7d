/** `llama-ts detokenize`: token ids -> text with a SentencePiece tokenizer.model. */
import type { Command } from "commander";
import { SentencePieceTokenizer } from "../../tokenizer/index.js";
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
        "Prints the text and a newline (with --json: {\"text\": \"...\"}).",
    )
    .addHelpText("after", "\nExample:\n  llama-ts detokenize --tokenizer tokenizer.model --ids 1,15043,3186")
    .requiredOption("--tokenizer <file>", "SentencePiece model file (tokenizer.model)")
    .requiredOption("--ids <ids>", "comma-separated token ids, e.g. 1,15043,3186 (the output format of `tokenize`)")
    .option("--json", "print {\"text\": ...} instead of the bare text")
    .action((opts: DetokenizeOptions) => run(opts));
}

function run(opts: DetokenizeOptions): void {
  const ids = parseIntList(opts.ids, "--ids");
  const tok = SentencePieceTokenizer.fromFile(opts.tokenizer);
  for (const id of ids) {
    if (id < 0 || id >= tok.vocabSize) {
      throw new UserError(`--ids: token id ${id} is outside the tokenizer's vocabulary [0, ${tok.vocabSize})`);
    }
  }
  const text = tok.decode(ids);
  process.stdout.write((opts.json ? JSON.stringify({ text }) : text) + "\n");
}
