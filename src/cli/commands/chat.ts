import readline from "node:readline";
import type { Command } from "commander";
import { applyThreads, MODEL_HELP } from "../common.js";
import { loadModel } from "../../runtime/load.js";
import { GenerationSession } from "../../generate/session.js";
import { chatGenerateOptions, renderChat, type ChatMessage } from "../../generate/chat.js";
import type { GenerateOptions } from "../../generate/types.js";
import { parseNumberOption, UserError } from "../../util/errors.js";

interface ChatCliOptions {
  model: string;
  tokenizer?: string;
  system?: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  threads?: string;
}

export function register(program: Command): void {
  program
    .command("chat")
    .summary("interactive chat with a model (streaming, the model's chat template)")
    .description(
      "Chat with a model in the terminal: each line you type is a user message, the reply streams back.\n" +
        "The conversation is rendered with the model's chat template (GGUF tokenizer.chat_template or the folder's " +
        "tokenizer_config.json); base models without one get a plain 'User: / Assistant:' transcript.\n" +
        "Commands: /reset starts over, /exit (or Ctrl-D) quits; Ctrl-C stops a reply that is being written.\n" +
        "With input from a pipe, each line is one message and the replies are printed in turn.\n\n" +
        "Examples:\n" +
        "  llama-ts chat --model TinyLlama-1.1B-Chat.Q8_0.gguf\n" +
        '  llama-ts chat --model runs/start/model --system "You are terse." --temperature 0',
    )
    .requiredOption("--model <path>", MODEL_HELP)
    .option("--tokenizer <file>", "tokenizer.model to use (for llama2.c files, or to replace the model's own)")
    .option("--system <text>", "system prompt")
    .option("--max-tokens <n>", "maximum tokens per reply", "512")
    .option("--temperature <t>", "sampling temperature; 0 = greedy", "0.6")
    .option("--top-p <p>", "nucleus sampling mass in (0, 1]", "0.9")
    .option("--seed <s>", "random seed for sampling", "0")
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .action((opts: ChatCliOptions) => run(opts));
}

async function run(opts: ChatCliOptions): Promise<void> {
  applyThreads(opts.threads);
  const gen: GenerateOptions = {
    maxTokens: parseNumberOption(opts.maxTokens, "--max-tokens", { min: 1, integer: true }),
    temperature: parseNumberOption(opts.temperature, "--temperature", { min: 0 }),
    topP: parseNumberOption(opts.topP, "--top-p", { min: 0, max: 1 }),
    seed: parseNumberOption(opts.seed, "--seed", { integer: true }),
  };
  if (gen.topP === 0) throw new UserError("--top-p must be above 0 (use --temperature 0 for greedy decoding)");
  const lm = await loadModel(opts.model, opts.tokenizer === undefined ? {} : { tokenizer: opts.tokenizer });
  if (!lm.tokenizer) throw new UserError(`chat needs a tokenizer, but ${opts.model} has none; pass --tokenizer FILE`);
  const session = new GenerationSession(lm, { parallel: 1 });
  const interactive = process.stdin.isTTY === true;
  const history: ChatMessage[] = opts.system ? [{ role: "system", content: opts.system }] : [];
  const base = history.length;
  if (interactive) {
    const how = lm.chatTemplate ? "its chat template" : "a plain User/Assistant transcript (no chat template in the model)";
    process.stderr.write(`${lm.name}: chatting with ${how}. /reset starts over, /exit quits.\n`);
  }

  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
  let current: AbortController | undefined;
  rl.on("SIGINT", () => {
    if (current) current.abort();
    else rl.close();
  });
  const prompt = (): void => {
    if (interactive) rl.prompt();
  };
  rl.setPrompt("> ");
  prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === "/exit" || text === "/quit") break;
    if (text === "/reset") {
      history.length = base;
      process.stderr.write("(conversation cleared)\n");
      prompt();
      continue;
    }
    if (text === "") {
      prompt();
      continue;
    }
    history.push({ role: "user", content: text });
    const rendered = renderChat(lm, history);
    current = new AbortController();
    let reply = "";
    let started = false;
    try {
      const it = session.stream(rendered, { ...chatGenerateOptions(lm, gen), signal: current.signal });
      for await (const chunk of it) {
        // Replies usually open with the space that follows "Assistant:" / "[/INST]": not shown.
        let t = chunk.text;
        if (!started) {
          t = t.replace(/^\s+/, "");
          if (t !== "") started = true;
        }
        reply += t;
        process.stdout.write(t);
      }
    } finally {
      current = undefined;
    }
    process.stdout.write("\n");
    history.push({ role: "assistant", content: reply });
    prompt();
  }
  rl.close();
  await session.close();
}
