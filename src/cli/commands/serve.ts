import type { Command } from "commander";
import { applyThreads, MODEL_HELP } from "../common.js";
import { parseNumberOption, UserError } from "../../util/errors.js";
import { openServer } from "../../serve/start.js";

interface ServeCliOptions {
  model: string;
  host: string;
  port: string;
  parallel: string;
  ctx?: string;
  apiKey?: string;
  alias?: string;
  maxQueue: string;
  maxBody: string;
  grace: string;
  threads?: string;
  tokenizer?: string;
}

export function register(program: Command): void {
  program
    .command("serve")
    .summary("OpenAI-compatible HTTP server (completions, chat, streaming, logprobs) with a chat page")
    .description(
      "Serve a model over HTTP with OpenAI's API: GET /v1/models, POST /v1/completions (string or token-id prompts, " +
        "echo + logprobs as lm-evaluation-harness uses them), POST /v1/chat/completions (the model's chat template), " +
        "server-sent-event streaming, POST /tokenize and /detokenize (llama.cpp's shapes), GET /health, GET /metrics " +
        "(Prometheus) and a chat page at GET /. Concurrent requests decode together (continuous batching, --parallel " +
        "sequences per step); when --max-queue more wait, new requests get 429. Prints 'listening on http://HOST:PORT' " +
        "when ready; SIGTERM or Ctrl-C finishes in-flight requests (up to --grace seconds) and exits 0. See docs/serve.md.\n\n" +
        "Examples:\n" +
        "  llama-ts serve --model runs/start/model\n" +
        "  llama-ts serve --model model-q8_0.gguf --port 8080 --parallel 8 --api-key secret --alias my-llama\n" +
        "  curl http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' \\\n" +
        "    -d '{\"prompt\": \"Once upon a time\", \"max_tokens\": 32, \"temperature\": 0}'",
    )
    .requiredOption("--model <path>", MODEL_HELP)
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one and prints it)", "8080")
    .option("--parallel <n>", "sequences decoded together per step (continuous batching)", "4")
    .option("--ctx <n>", "context length per sequence (default: the model's)")
    .option("--api-key <key>", "require 'Authorization: Bearer KEY' (GET /health and the chat page stay open)")
    .option("--alias <name>", "model id clients use (default: the model file's or folder's base name)")
    .option("--max-queue <n>", "requests that may wait for a slot before new ones get 429", "64")
    .option("--max-body <bytes>", "largest accepted request body", String(8 * 1024 * 1024))
    .option("--grace <s>", "on SIGTERM, seconds to let in-flight requests finish before cancelling them", "10")
    .option("--tokenizer <file>", "tokenizer file replacing (or supplying) the model's own, e.g. for a llama2.c .bin")
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .action((opts: ServeCliOptions) => run(opts));
}

async function run(opts: ServeCliOptions): Promise<void> {
  applyThreads(opts.threads);
  const port = parseNumberOption(opts.port, "--port", { min: 0, max: 65535, integer: true });
  const parallel = parseNumberOption(opts.parallel, "--parallel", { min: 1, max: 1024, integer: true });
  const maxQueue = parseNumberOption(opts.maxQueue, "--max-queue", { min: 0, integer: true });
  const maxBodyBytes = parseNumberOption(opts.maxBody, "--max-body", { min: 1024, integer: true });
  const graceMs = parseNumberOption(opts.grace, "--grace", { min: 0 }) * 1000;
  if (opts.apiKey !== undefined && opts.apiKey.trim() === "") throw new UserError("--api-key is empty");
  const server = await openServer({
    model: opts.model,
    tokenizer: opts.tokenizer,
    alias: opts.alias,
    parallel,
    contextLength: opts.ctx !== undefined ? parseNumberOption(opts.ctx, "--ctx", { min: 1, integer: true }) : undefined,
    maxQueue,
    apiKey: opts.apiKey,
    maxBodyBytes,
  });
  const model = server.model;
  let addr;
  try {
    addr = await server.listen(port, opts.host);
  } catch (err) {
    throw new UserError(`cannot listen on ${opts.host}:${port}: ${(err as Error).message}`);
  }
  const stop = (signal: string): void => {
    process.stderr.write(`llama-ts serve: ${signal}: finishing in-flight requests, then exiting\n`);
    void server.close(graceMs).then(() => process.exit(0));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  process.stdout.write(`llama-ts serve: model '${model.id}' (context ${model.contextLength}) listening on ${addr.url}\n`);
}
