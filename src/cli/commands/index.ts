/** Every CLI command, one module each; add a line here when adding a command. */
import type { Command } from "commander";
import { register as registerLogits } from "./logits.js";

export function registerCommands(program: Command): void {
  registerLogits(program);
}
