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
import { register as registerServe } from "./serve.js";

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
  registerServe(program);
}
