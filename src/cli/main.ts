#!/usr/bin/env node
/**
 * The llama-ts command line. Each command lives in its own module under ./commands and
 * registers itself on the program; this file only wires them up and turns errors into
 * exit codes: a user mistake is one line on stderr and exit code 2, anything else a stack.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { oneLine, UserError } from "../util/errors.js";
import { registerCommands } from "./commands/index.js";

const program = new Command();
program
  .name("llama-ts")
  .description("LLaMA models in TypeScript: generate, inspect logits, tokenize, prepare data, train, evaluate.\n\nEnvironment: LLAMA_TS_BACKEND=native|reference forces a kernel backend; LLAMA_TS_THREADS=N sets the native threads (or --threads N).")
  .version(packageVersion(), "-V, --version", "print the llama-ts version")
  // Commander's own error text is replaced by one `llama-ts: error:` line below.
  .configureOutput({ outputError: () => {} })
  .exitOverride();
program.enablePositionalOptions(); // lets a command and its subcommands share option names (sweep / sweep fit)
registerCommands(program);

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    if (err.exitCode !== 0 && err.code !== "commander.help") process.stderr.write(`llama-ts: error: ${commanderMessage(err)}\n`);
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof UserError) {
    process.stderr.write(`llama-ts: error: ${oneLine(err.message)}\n`);
    process.exit(2);
  }
  throw err;
}

/** Commander's message ("error: unknown option '--x'\n(Did you mean --y?)") as one line with a pointer to --help. */
function commanderMessage(err: CommanderError): string {
  const text = err.message.replace(/^error:\s*/, "").replace(/\s*\n\s*/g, " ");
  const names = new Set(program.commands.map((c) => c.name()));
  const cmd = process.argv.slice(2).find((a) => names.has(a));
  return oneLine(`${text} (see llama-ts ${cmd ? `${cmd} ` : ""}--help)`);
}
