/** `llama-ts tokenizer train`: a SentencePiece-compatible BPE tokenizer.model from text files. */
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { SentencePieceTokenizer, TrainError, serializeModelProto, trainBpeFromFiles, type BpeTrainerOptions } from "../../tokenizer/index.js";
import { UserError, parseNumberOption } from "../../util/errors.js";

interface TrainCliOptions {
  input: string[];
  vocabSize: string;
  out: string;
  maxSentenceLength: string;
  characterCoverage: string;
  maxPieceLength: string;
  inputSentenceSize: string;
  seed: string;
  splitDigits: boolean;
  byteFallback: boolean;
  addDummyPrefix: boolean;
  removeExtraWhitespaces?: boolean;
  allowWhitespaceOnlyPieces: boolean;
  splitByUnicodeScript: boolean;
  hardVocabLimit: boolean;
  userDefinedSymbols?: string;
  controlSymbols?: string;
  unkId: string;
  bosId: string;
  eosId: string;
  padId: string;
  json?: boolean;
}

export function register(program: Command): void {
  const group = program
    .command("tokenizer")
    .summary("tokenizer tools: train")
    .description("Tokenizer tools. Encoding and decoding are the top-level `tokenize` and `detokenize` commands.");
  group
    .command("train")
    .summary("train a SentencePiece-compatible BPE tokenizer.model")
    .description(
      "Train a BPE tokenizer on text files and write a SentencePiece tokenizer.model that SentencePiece itself " +
        "and `tokenize` load.\n" +
        "Defaults are LLaMA's: BPE; numbers split into single digits; byte fallback (<0x00>..<0xFF> at ids 3..258, " +
        "so no text is ever unknown); identity normalisation; a dummy-prefix space; whitespace kept as it is (runs of " +
        "spaces become pieces); unk 0, bos 1, eos 2; character coverage 0.99995.\n" +
        "Each input line is one sentence; lines longer than --max-sentence-length bytes are skipped (as spm_train does).",
    )
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  llama-ts tokenizer train --input books.txt wiki.txt --vocab-size 32000 --out tokenizer.model\n" +
        "  llama-ts tokenizer train --input code.txt --vocab-size 16000 --out code.model --input-sentence-size 2000000",
    )
    .requiredOption("--input <files...>", "UTF-8 text files, one sentence per line")
    .requiredOption("--vocab-size <n>", "number of pieces in the model, special and byte pieces included (LLaMA: 32000)")
    .requiredOption("--out <file>", "where to write the model (e.g. tokenizer.model)")
    .option("--max-sentence-length <n>", "skip input lines longer than this many UTF-8 bytes", "4192")
    .option("--character-coverage <f>", "fraction of the corpus characters that get their own piece; the rarest rest fall back to bytes", "0.99995")
    .option("--max-piece-length <n>", "longest piece, in characters", "16")
    .option("--input-sentence-size <n>", "train on a random sample of this many lines (0 = all lines)", "0")
    .option("--seed <n>", "seed for --input-sentence-size sampling", "0")
    .option("--no-split-digits", "allow multi-digit pieces (LLaMA splits numbers into digits)")
    .option("--no-byte-fallback", "no <0x..> byte pieces: unknown characters become <unk>")
    .option("--no-add-dummy-prefix", "do not add a space before the text (LLaMA adds one)")
    .option("--remove-extra-whitespaces", "drop leading/trailing spaces and collapse runs of spaces (LLaMA keeps them)")
    .option("--no-allow-whitespace-only-pieces", "forbid pieces made only of spaces")
    .option("--no-split-by-unicode-script", "allow pieces that mix Unicode scripts")
    .option("--no-hard-vocab-limit", "write a smaller vocabulary instead of failing when the corpus is too small")
    .option("--user-defined-symbols <list>", "comma-separated pieces always kept whole, e.g. \"<tool>,[INST]\"")
    .option("--control-symbols <list>", "comma-separated extra control pieces (invisible in decoded text)")
    .option("--unk-id <n>", "id of <unk>", "0")
    .option("--bos-id <n>", "id of <s> (-1: none)", "1")
    .option("--eos-id <n>", "id of </s> (-1: none)", "2")
    .option("--pad-id <n>", "id of <pad> (-1: none)", "-1")
    .option("--json", "print a JSON summary on stdout (no progress display)")
    .action((opts: TrainCliOptions) => run(opts));
}

function list(s: string | undefined): string[] {
  return s === undefined ? [] : s.split(",").filter((x) => x.length > 0);
}

function run(opts: TrainCliOptions): void {
  for (const f of opts.input) {
    if (!existsSync(f)) throw new UserError(`--input: no such file ${f}`);
    if (!statSync(f).isFile()) throw new UserError(`--input: ${f} is not a file`);
  }
  const int = (v: string, flag: string, min: number): number => parseNumberOption(v, flag, { integer: true, min });
  const options: BpeTrainerOptions = {
    vocabSize: int(opts.vocabSize, "--vocab-size", 1),
    maxSentenceLength: int(opts.maxSentenceLength, "--max-sentence-length", 1),
    characterCoverage: parseNumberOption(opts.characterCoverage, "--character-coverage", { min: 0, max: 1 }),
    maxSentencepieceLength: int(opts.maxPieceLength, "--max-piece-length", 1),
    inputSentenceSize: int(opts.inputSentenceSize, "--input-sentence-size", 0),
    seed: int(opts.seed, "--seed", 0),
    splitDigits: opts.splitDigits,
    byteFallback: opts.byteFallback,
    addDummyPrefix: opts.addDummyPrefix,
    removeExtraWhitespaces: opts.removeExtraWhitespaces === true,
    allowWhitespaceOnlyPieces: opts.allowWhitespaceOnlyPieces,
    splitByUnicodeScript: opts.splitByUnicodeScript,
    hardVocabLimit: opts.hardVocabLimit,
    userDefinedSymbols: list(opts.userDefinedSymbols),
    controlSymbols: list(opts.controlSymbols),
    unkId: int(opts.unkId, "--unk-id", 0),
    bosId: int(opts.bosId, "--bos-id", -1),
    eosId: int(opts.eosId, "--eos-id", -1),
    padId: int(opts.padId, "--pad-id", -1),
    modelPrefix: path.basename(opts.out).replace(/\.model$/, ""),
    progress: !opts.json,
  };
  let result;
  try {
    result = trainBpeFromFiles(opts.input, options);
  } catch (err) {
    if (err instanceof TrainError) throw new UserError(err.message);
    throw err;
  }
  const bytes = serializeModelProto(result.model);
  // Check that what we write loads, then write atomically.
  SentencePieceTokenizer.fromBytes(bytes, opts.out);
  const tmp = `${opts.out}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, opts.out);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new UserError(`--out: cannot write ${opts.out}: ${(err as Error).message}`);
  }
  const s = result.stats;
  if (opts.json) {
    process.stdout.write(JSON.stringify({ out: opts.out, pieces: result.model.pieces.length, ...s }) + "\n");
    return;
  }
  process.stderr.write(
    `wrote ${opts.out}: ${result.model.pieces.length} pieces (${s.merges} merges, ${s.requiredChars} characters) from ` +
      `${s.sentences} lines, ${s.distinctWords} distinct words in ${s.seconds.toFixed(1)} s` +
      (s.skippedTooLong > 0 ? `; skipped ${s.skippedTooLong} lines longer than ${options.maxSentenceLength} bytes` : "") +
      "\n",
  );
}
