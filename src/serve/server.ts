/**
 * The OpenAI-compatible HTTP server over `node:http`.
 *
 * Routes (each also without the /v1 prefix where OpenAI clients might use one):
 *   GET  /health, /v1/health         {"status": "ok"} (503 while shutting down); no API key needed
 *   GET  /metrics                    Prometheus text (metrics.ts)
 *   GET  /v1/models[/ID]             the one model this server serves
 *   POST /v1/completions             openai.ts
 *   POST /v1/chat/completions        openai.ts
 *   POST /tokenize, /detokenize      llama.cpp server's shapes (vLLM's accepted too)
 *   GET  /tokenizer_info             vLLM's: special tokens, chat template (lm-eval's remote tokenizer)
 *   GET  /, /FILE                    the chat page: files of `staticDir` (web/chat), no API key needed
 *
 * Every error is a JSON body in OpenAI's shape with its 4xx/5xx status (errors.ts); an
 * unexpected exception is logged and answered with a 500: the server keeps serving. CORS is
 * open (`Access-Control-Allow-Origin: *`), as llama.cpp's server. A response closed by the
 * client before it ends aborts the request's generation (its KV cache is freed).
 *
 * Shutdown (`close`): stop accepting connections, answer new requests on open connections with
 * 503, let in-flight requests finish for up to `graceMs`, then cancel what is left
 * (`engine.close()`) and close every connection.
 *
 * The server holds no state between requests (no sessions, no conversation cache), so
 * replicas behind a load balancer are interchangeable.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ApiError, badRequest } from "./errors.js";
import type { ServeEngine, ServeModel } from "./engine.js";
import { readJsonBody, sendError, sendJson } from "./http.js";
import { ServerMetrics } from "./metrics.js";
import { checkModel, handleChat, handleCompletions, type RequestContext } from "./openai.js";
import { detokenizeRequest, parseBody, tokenizeRequest } from "./schemas.js";

/** The chat page shipped with the package: <package root>/web/chat. */
export const DEFAULT_STATIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "web", "chat");

export interface ServerOptions {
  model: ServeModel;
  engine: ServeEngine;
  /** Require `Authorization: Bearer KEY` on the API routes. */
  apiKey?: string;
  /** Largest accepted request body; default 8 MiB. */
  maxBodyBytes?: number;
  /** Folder served at GET / (index.html) and GET /FILE; default DEFAULT_STATIC_DIR. */
  staticDir?: string;
  /** One line per notable event (errors with stacks); default stderr. */
  log?: (line: string) => void;
}

type Handler = (ctx: RequestContext, req: IncomingMessage, res: ServerResponse) => Promise<void>;

interface Route {
  method: "GET" | "POST";
  handler: Handler;
  /** Reachable without the API key. */
  open?: boolean;
}

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
};

export class LlamaServer {
  readonly metrics = new ServerMetrics();
  readonly http: Server;
  readonly model: ServeModel;
  readonly engine: ServeEngine;
  private readonly apiKeyHash: Buffer | undefined;
  private readonly maxBodyBytes: number;
  private readonly staticDir: string;
  private readonly log: (line: string) => void;
  private readonly routes: Map<string, Route>;
  private readonly inFlight = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;

  constructor(opts: ServerOptions) {
    this.model = opts.model;
    this.engine = opts.engine;
    this.apiKeyHash = opts.apiKey !== undefined ? sha256(opts.apiKey) : undefined;
    this.maxBodyBytes = opts.maxBodyBytes ?? 8 * 1024 * 1024;
    this.staticDir = path.resolve(opts.staticDir ?? DEFAULT_STATIC_DIR);
    this.log = opts.log ?? ((line) => process.stderr.write(line + "\n"));
    this.routes = this.buildRoutes();
    this.http = createServer((req, res) => this.track(this.dispatch(req, res)));
    // Keep idle connections longer than the usual load balancer / client idle timeout (60 s), so
    // that the server never closes a connection a client is about to reuse.
    this.http.keepAliveTimeout = 65_000;
    this.http.on("clientError", (_err, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(port: number, host: string): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.http.once("error", onError);
      this.http.listen(port, host, () => {
        this.http.off("error", onError);
        const addr = this.http.address() as AddressInfo;
        const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
        resolve({ host: addr.address, port: addr.port, url: `http://${shown}:${addr.port}` });
      });
    });
  }

  /** Graceful shutdown (see the file comment); resolves when every connection is closed. */
  close(graceMs = 10_000): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const drained = Promise.allSettled([...this.inFlight]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
    await this.engine.close();
    await Promise.allSettled([...this.inFlight]);
    this.http.closeAllConnections();
    await closed;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private buildRoutes(): Map<string, Route> {
    const r = new Map<string, Route>();
    const add = (paths: string[], route: Route): void => paths.forEach((p) => r.set(p, route));
    const json = (fn: (ctx: RequestContext, body: unknown, res: ServerResponse) => Promise<void>): Handler => {
      return async (ctx, req, res) => fn(ctx, await readJsonBody(req, this.maxBodyBytes), res);
    };
    add(["/health", "/v1/health"], { method: "GET", open: true, handler: async (_c, _q, res) => this.health(res) });
    add(["/metrics"], { method: "GET", handler: async (_c, _q, res) => this.sendMetrics(res) });
    add(["/v1/models", "/models"], { method: "GET", handler: async (_c, _q, res) => sendJson(res, 200, { object: "list", data: [this.modelCard()] }) });
    add(["/v1/completions", "/completions"], { method: "POST", handler: json(handleCompletions) });
    add(["/v1/chat/completions", "/chat/completions"], { method: "POST", handler: json(handleChat) });
    add(["/tokenize"], { method: "POST", handler: json(async (_c, body, res) => this.tokenize(body, res)) });
    add(["/tokenizer_info"], { method: "GET", handler: async (_c, _q, res) => this.tokenizerInfo(res) });
    add(["/detokenize"], { method: "POST", handler: json(async (_c, body, res) => this.detokenize(body, res)) });
    return r;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ac = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) ac.abort();
    });
    this.metrics.inFlightRequests++;
    let endpoint = "other";
    res.once("finish", () => this.metrics.countRequest(endpoint, res.statusCode));
    res.once("close", () => this.metrics.inFlightRequests--);
    res.setHeader("Access-Control-Allow-Origin", "*");
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      const pathname = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname;
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
          "Access-Control-Allow-Headers": "Content-Type, Authorization",
          "Access-Control-Max-Age": "86400",
        });
        res.end();
        return;
      }
      if (this.closing) {
        res.setHeader("Connection", "close");
        throw new ApiError(503, "the server is shutting down", "unavailable_error", null, "shutting_down");
      }
      const modelMatch = /^\/(?:v1\/)?models\/(.+)$/.exec(pathname);
      const route = this.routes.get(pathname);
      if (route) {
        endpoint = pathname;
        if (req.method !== route.method) {
          throw new ApiError(405, `${req.method} is not allowed on ${pathname}; use ${route.method}`, "invalid_request_error", null, "method_not_allowed", { Allow: route.method });
        }
        if (!route.open) this.authorize(req);
        await route.handler({ model: this.model, engine: this.engine, metrics: this.metrics, signal: ac.signal }, req, res);
      } else if (modelMatch && req.method === "GET") {
        endpoint = "/v1/models/{id}";
        this.authorize(req);
        let id: string;
        try {
          id = decodeURIComponent(modelMatch[1]!);
        } catch {
          throw badRequest(`malformed URL path ${pathname}`);
        }
        checkModel(this.model, id);
        sendJson(res, 200, this.modelCard());
      } else if (req.method === "GET" || req.method === "HEAD") {
        endpoint = "static";
        await this.serveStatic(pathname, req, res);
      } else {
        throw new ApiError(404, `no route for ${req.method} ${pathname}`, "not_found_error", null, "not_found");
      }
    } catch (err) {
      this.fail(res, err);
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.destroyed) return;
    if (err instanceof ApiError) {
      sendError(res, err);
      return;
    }
    this.log(`llama-ts serve: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    sendError(res, new ApiError(500, `internal server error: ${err instanceof Error ? err.message : String(err)}`, "server_error"));
  }

  private authorize(req: IncomingMessage): void {
    if (!this.apiKeyHash) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (m && timingSafeEqual(sha256(m[1]!.trim()), this.apiKeyHash)) return;
    throw new ApiError(401, "Invalid or missing API key: send the header 'Authorization: Bearer KEY'", "authentication_error", null, "invalid_api_key", {
      "WWW-Authenticate": "Bearer",
    });
  }

  private health(res: ServerResponse): void {
    sendJson(res, 200, { status: "ok" });
  }

  private sendMetrics(res: ServerResponse): void {
    const text = this.metrics.render(this.engine.stats());
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }

  private modelCard(): object {
    return { id: this.model.id, object: "model", created: 0, owned_by: "llama-ts", context_length: this.model.contextLength };
  }

  private tokenize(body: unknown, res: ServerResponse): void {
    const r = parseBody(tokenizeRequest, body);
    const tok = this.model.tokenizer;
    if (!tok) throw badRequest("this model has no tokenizer", "content");
    const addSpecial = r.add_special ?? r.add_special_tokens ?? false;
    const ids = tok.encode(r.content ?? r.prompt ?? "", { bos: addSpecial && tok.bosId >= 0, parseSpecial: r.parse_special ?? true });
    const tokens = r.with_pieces ? ids.map((id) => ({ id, piece: tok.idToPiece(id) })) : ids;
    // llama.cpp answers {tokens}; vLLM adds count and max_model_len.
    sendJson(res, 200, { tokens, count: ids.length, max_model_len: this.model.contextLength });
  }

  private detokenize(body: unknown, res: ServerResponse): void {
    const r = parseBody(detokenizeRequest, body);
    const tok = this.model.tokenizer;
    if (!tok) throw badRequest("this model has no tokenizer", "tokens");
    for (const id of r.tokens) {
      if (id < 0 || id >= tok.vocabSize) throw badRequest(`'tokens': token id ${id} is outside the vocabulary [0, ${tok.vocabSize})`, "tokens", "invalid_token_id");
    }
    const text = tok.decode(r.tokens);
    // llama.cpp's key is `content`, vLLM's `prompt`.
    sendJson(res, 200, { content: text, prompt: text });
  }

  /** vLLM's GET /tokenizer_info (lm-evaluation-harness's `tokenizer_backend=remote` reads it). */
  private tokenizerInfo(res: ServerResponse): void {
    const tok = this.model.tokenizer;
    if (!tok) throw badRequest("this model has no tokenizer");
    const piece = (id: number): string | null => (id >= 0 ? tok.idToPiece(id) : null);
    sendJson(res, 200, {
      tokenizer_class: "LlamaTokenizer",
      bos_token: piece(tok.bosId),
      eos_token: piece(tok.eosId),
      pad_token: null,
      model_max_length: this.model.contextLength,
      vocab_size: tok.vocabSize,
      chat_template: this.model.chatTemplate ?? null,
    });
  }

  private async serveStatic(pathname: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname === "/" ? "/index.html" : pathname);
    } catch {
      throw badRequest(`malformed URL path ${pathname}`);
    }
    const file = path.resolve(this.staticDir, "." + rel);
    const notFound = new ApiError(404, `no route for GET ${pathname}`, "not_found_error", null, "not_found");
    if (file !== this.staticDir && !file.startsWith(this.staticDir + path.sep)) throw notFound;
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) throw notFound;
    const data = await readFile(file);
    res.writeHead(200, {
      "Content-Type": CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream",
      "Content-Length": data.length,
      "Cache-Control": "no-cache",
    });
    res.end(req.method === "HEAD" ? undefined : data);
  }
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}
