/**
 * Small HTTP helpers over `node:http`: a size-limited JSON body reader (413 past the limit,
 * 400 for malformed JSON), JSON and error responses, and a server-sent-events writer
 * (`data: {json}\n\n` per event, `data: [DONE]\n\n` at the end, as OpenAI streams).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError, badRequest } from "./errors.js";

/** Reads the whole body as JSON; rejects with 413 past `limit` bytes and 400 when it is not JSON. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    parts.push(chunk);
  }
  const text = Buffer.concat(parts).toString("utf8");
  if (text.trim() === "") throw badRequest("the request body is empty; send a JSON object");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`, null, "invalid_json");
  }
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `the request body is larger than the limit of ${limit} bytes`, "invalid_request_error", null, "request_too_large");
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    // Mid-stream: report the error as an SSE event, then end the stream.
    if (!res.writableEnded) res.end(`data: ${JSON.stringify(err.body())}\n\n`);
    return;
  }
  sendJson(res, err.status, err.body(), err.headers);
}

/** A server-sent-events response. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", Connection: "keep-alive", "X-Accel-Buffering": "no" });
    res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  send(event: unknown): void {
    if (!this.closed) this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  done(): void {
    if (!this.closed) this.res.end("data: [DONE]\n\n");
  }
}
