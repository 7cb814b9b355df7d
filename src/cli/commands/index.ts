/** Every CLI command, one module each; add a line here when adding a command. */
import type { Command } from "commander";
import { register as registerGenerate } from "./generate.js";
import { register as registerLogits } from "./logits.js";
import { register as registerTokenize } from "./tokenize.js";
import { register as registerDetokenize } from "./detokenize.js";
import { register as registerTokenizerTrain } from "./tokenizer-train.js";
import { register as registerPrepare } from "./prepare.js";
import { register as registerTrain } from "./train.js";
import { register as registerStart } from "./start.js";
import { register as registerEval } from "./eval.js";
import { register as registerQuantize } from "./quantize.js";
import { register as registerConvert } from "./convert.js";
import { register as registerChat } from "./chat.js";
import { register as registerSweep } from "./sweep.js";
import { register as registerCost } from "./cost.js";
import { register as registerServe } from "./serve.js";
import { register as registerWeb } from "./web.js";

/** Examples for commands whose own help has none (shown after the options). */
const EXAMPLES: Record<string, string[]> = {
  logits: ["llama-ts logits --model runs/start/model --tokens 1,450,4996 --last", "llama-ts logits --model model.gguf --tokens 1,2,3 > logits.json"],
  prepare: ["llama-ts prepare --bundled --tokenizer tokenizer.model --out data/", "llama-ts prepare --mixture mixture.json --tokenizer tokenizer.model --out data/"],
  train: [
    "llama-ts train --data data/ --out runs/my-run --config small --steps 2000 --batch 8 --seq-len 256",
    "llama-ts train --data data/ --out runs/my-run --resume --steps 4000",
  ],
  start: ["npm start", "llama-ts start --out runs/start"],
};

/**
 * Help conventions for every command: an Examples block (from EXAMPLES when the command's
 * description has none) and numeric defaults shown as numbers (`(default: 128)`, not `"128"`).
 */
function polishHelp(cmd: Command, path = ""): void {
  for (const opt of cmd.options) {
    const v: unknown = opt.defaultValue;
    if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) && opt.defaultValueDescription === undefined) {
      opt.defaultValueDescription = v;
    }
  }
  const examples = EXAMPLES[path];
  if (examples && !cmd.description().includes("Examples")) cmd.addHelpText("after", `\nExamples:\n${examples.map((e) => `  ${e}`).join("\n")}`);
  for (const sub of cmd.commands) polishHelp(sub, path ? `${path} ${sub.name()}` : sub.name());
}

export function registerCommands(program: Command): void {
  registerGenerate(program);
  registerLogits(program);
  registerTokenize(program);
  registerDetokenize(program);
  registerTokenizerTrain(program);
  registerPrepare(program);
  registerTrain(program);
  registerStart(program);
  registerEval(program);
  registerQuantize(program);
  registerConvert(program);
  registerChat(program);
  registerSweep(program);
  registerCost(program);
  registerServe(program);
  registerWeb(program);
  polishHelp(program);
}
