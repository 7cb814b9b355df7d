/** Every CLI command, one module each; add a line here when adding a command. */
import type { Command } from "commander";

export function registerCommands(program: Command): void {
  void program;
}
