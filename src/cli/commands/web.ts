import type { Command } from "commander";
import { parseNumberOption } from "../../util/errors.js";
import { startWebServer } from "../../serve/web.js";

interface WebCliOptions {
  port: string;
  host: string;
  model?: string;
}

export function register(program: Command): void {
  program
    .command("web")
    .summary("serve the in-browser page: run a GGUF model in the browser, nothing computed on the server")
    .description(
      "Serve the llama-ts page (web/app) and the browser bundle (dist/browser/llama-ts.js) over HTTP with the " +
        "cross-origin isolation headers (COOP/COEP) that let the page use threads. The page loads a .gguf you pick " +
        "or drop (or the files of a Hugging Face model folder), or the --model file on its own, and streams a " +
        "completion computed in the browser, showing tokens/s and the kernel backend (WebAssembly by default; ?backend=reference in the URL for the TypeScript kernels); its training panel trains a tiny LLaMA on a bundled book and offers the result as a .gguf download. Prints 'listening on URL' " +
        "when ready; Ctrl-C stops it. See docs/browser.md.\n\n" +
        "Examples:\n" +
        "  llama-ts web\n" +
        "  llama-ts web --model runs/start/model.gguf --port 8080\n" +
        "  llama-ts web --port 0          # any free port; the URL is printed",
    )
    .option("--port <n>", "port (0 picks a free one and prints it)", "8080")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--model <file>", "a .gguf file the page loads on its own (served at /model/NAME)")
    .action((opts: WebCliOptions) => run(opts));
}

async function run(opts: WebCliOptions): Promise<void> {
  const port = parseNumberOption(opts.port, "--port", { min: 0, max: 65535, integer: true });
  const server = await startWebServer(port, opts.host, { model: opts.model });
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const model = server.modelPath ? ` (model ${server.modelPath})` : "";
  process.stdout.write(`llama-ts web: page${model} listening on ${server.url}\n`);
}
