#!/usr/bin/env node
/**
 * The llama-ts command line. Each command lives in its own module under ./commands and
 * registers itself on the program; this file only wires them up and turns errors into
 * exit codes: a user mistake is one line on stderr and exit code 2, anything else a stack.
 */
import { Command, CommanderError } from "commander";
import { UserError } from "../util/errors.js";
import { registerCommands } from "./commands/index.js";

const program = new Command();
program
  .name("llama-ts")
  .description("LLaMA models in TypeScript: generate, inspect logits, tokenize, prepare data, train, evaluate.\n\nEnvironment: LLAMA_TS_BACKEND=native|reference forces a kernel backend; LLAMA_TS_THREADS=N sets the native threads (or --threads N).")
  .showHelpAfterError("(add --help for usage)")
  .exitOverride();
program.enablePositionalOptions(); // lets a command and its subcommands share option names (sweep / sweep fit)
registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof UserError) {
    process.stderr.write(`llama-ts: error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
