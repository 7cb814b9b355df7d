#!/usr/bin/env node
/**
 * The llama-ts command line. Each command lives in its own module under ./commands and
 * registers itself on the program; this file only wires them up and turns errors into
 * exit codes: a user mistake is one line on stderr and exit code 2, anything else a stack.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { UserError } from "../util/errors.js";
import { registerCommands } from "./commands/index.js";

const program = new Command();
program
  .name("llama-ts")
  .description("LLaMA models in TypeScript: generate, inspect logits, tokenize, prepare data, train, evaluate.\n\nEnvironment: LLAMA_TS_BACKEND=native|reference forces a kernel backend; LLAMA_TS_THREADS=N sets the native threads (or --threads N).")
  .version(packageVersion(), "-V, --version", "print the llama-ts version")
  .showHelpAfterError("(add --help for usage)")
  .exitOverride();
registerCommands(program);

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

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
