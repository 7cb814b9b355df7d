/**
 * `llama-ts web`: a static HTTP server for the in-browser page (web/app), nothing computed on
 * the server. Routes (GET and HEAD only):
 *
 *   /, /FILE                 web/app/FILE (index.html for /)
 *   /dist/llama-ts.js[.map]  the browser bundle (dist/browser/, built by `npm run build`)
 *   /wasm/FILE               the WebAssembly kernels folder (<package root>/wasm), when present
 *   /model/NAME              the --model file, streamed (NAME is its base name)
 *   /corpus/BOOK.txt         the bundled public-domain books (data/bundled.ts), the training panel's text
 *   /app-config.json         {"model": "/model/NAME" | null}: what the page loads on its own
 *
 * Every response carries Cross-Origin-Opener-Policy: same-origin and
 * Cross-Origin-Embedder-Policy: require-corp, so the page is cross-origin isolated and may use
 * SharedArrayBuffer (threads in Web Workers); Cross-Origin-Resource-Policy: same-origin covers
 * the page's own sub-resources under COEP. Paths are resolved inside their folder (no `..`).
 */
import fs from "node:fs";
import { stat } from "node:fs/promises";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.js";
import { fileSource, statRegularFile } from "../util/files.js";
import { CONTENT_TYPES } from "./server.js";
import { bundledBooksDir } from "../data/bundled.js";

/** The package root (dist/src/serve/web.js -> ../../..). */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export const WEB_APP_DIR = path.join(PACKAGE_ROOT, "web", "app");
export const BROWSER_BUNDLE_DIR = path.join(PACKAGE_ROOT, "dist", "browser");
export const WASM_DIR = path.join(PACKAGE_ROOT, "wasm");

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, hence WASM threads). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
};

export interface WebServerOptions {
  /** A .gguf file the page loads on its own. */
  model?: string;
  /** Folders (defaults: the package's). */
  appDir?: string;
  bundleDir?: string;
  wasmDir?: string;
  /** The training panel's texts (default: the bundled books). */
  corpusDir?: string;
}

export interface WebServer {
  readonly url: string;
  readonly port: number;
  /** The URL path the model is served at, if one was given. */
  readonly modelPath: string | undefined;
  close(): Promise<void>;
}

/** Checks the inputs (one-line UserErrors), then listens; resolves once listening. */
export async function startWebServer(port: number, host: string, opts: WebServerOptions = {}): Promise<WebServer> {
  const appDir = path.resolve(opts.appDir ?? WEB_APP_DIR);
  const bundleDir = path.resolve(opts.bundleDir ?? BROWSER_BUNDLE_DIR);
  const wasmDir = path.resolve(opts.wasmDir ?? WASM_DIR);
  const corpusDir = opts.corpusDir ?? bundledBooksDir();
  if (!fs.existsSync(path.join(bundleDir, "llama-ts.js"))) {
    throw new UserError(`the browser bundle ${path.join(bundleDir, "llama-ts.js")} is missing: run "npm run build" first`);
  }
  if (!fs.existsSync(path.join(appDir, "index.html"))) throw new UserError(`the page ${path.join(appDir, "index.html")} is missing`);
  let model: { file: string; urlPath: string } | undefined;
  if (opts.model !== undefined) {
    const file = path.resolve(opts.model);
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
      throw new UserError(`--model ${opts.model} is a folder; the page loads a .gguf given here (an HF folder's files can be picked in the page)`);
    }
    statRegularFile(file, "model"); // missing, or not a regular file: one line
    if (!isGgufFile(file)) throw new UserError(`--model ${opts.model} is not a GGUF file (the page runs .gguf models; convert with "llama-ts convert")`);
    model = { file, urlPath: `/model/${encodeURIComponent(path.basename(file))}` };
  }
  const appConfig = JSON.stringify({ model: model?.urlPath ?? null });

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", `internal error: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain; charset=utf-8", "only GET and HEAD\n", { Allow: "GET, HEAD" });
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      return send(res, 400, "text/plain; charset=utf-8", "malformed URL\n");
    }
    if (pathname === "/app-config.json") return send(res, 200, CONTENT_TYPES[".json"]!, appConfig, {}, req.method === "HEAD");
    if (model && pathname === decodeURIComponent(model.urlPath)) return sendFile(req, res, model.file);
    if (pathname.startsWith("/dist/")) return sendInside(req, res, bundleDir, pathname.slice("/dist".length));
    if (pathname.startsWith("/wasm/")) return sendInside(req, res, wasmDir, pathname.slice("/wasm".length));
    if (pathname.startsWith("/corpus/") && corpusDir !== undefined) return sendInside(req, res, corpusDir, pathname.slice("/corpus".length));
    return sendInside(req, res, appDir, pathname === "/" ? "/index.html" : pathname);
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off("listening", onListening);
      if (err.code === "EADDRINUSE") reject(new UserError(`port ${port} on ${host} is in use: stop what uses it, or pick another with --port`));
      else if (err.code === "EACCES") reject(new UserError(`not allowed to listen on ${host}:${port} (ports below 1024 need privileges): pick another with --port`));
      else reject(new UserError(`cannot listen on ${host}:${port}: ${err.message}`));
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    port: addr.port,
    modelPath: model?.urlPath,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** True when the file starts with the GGUF magic. */
function isGgufFile(file: string): boolean {
  const src = fileSource(file, "model");
  try {
    return src.size >= 4 && String.fromCharCode(...src.read(0, 4)) === "GGUF";
  } finally {
    src.close();
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}, head = false): void {
  const data = Buffer.from(body, "utf8");
  res.writeHead(status, { ...ISOLATION_HEADERS, "Content-Type": type, "Content-Length": data.length, "Cache-Control": "no-cache", ...extra });
  res.end(head ? undefined : data);
}

/** `rel` (a URL path starting with /) inside `dir`, or 404. */
async function sendInside(req: IncomingMessage, res: ServerResponse, dir: string, rel: string): Promise<void> {
  const file = path.resolve(dir, "." + rel);
  if (file !== dir && !file.startsWith(dir + path.sep)) return send(res, 404, "text/plain; charset=utf-8", "not found\n");
  return sendFile(req, res, file);
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) return send(res, 404, "text/plain; charset=utf-8", "not found\n");
  const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
  res.writeHead(200, { ...ISOLATION_HEADERS, "Content-Type": type, "Content-Length": info.size, "Cache-Control": "no-cache" });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const stream = fs.createReadStream(file);
    stream.on("error", () => {
      res.destroy();
      resolve();
    });
    stream.on("end", () => resolve());
    stream.pipe(res);
  });
}
