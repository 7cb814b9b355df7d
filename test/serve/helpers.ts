/** Shared pieces of the server tests: an in-process server on a free port, and a raw JSON client. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fixturesDir } from "../helpers.js";
import { openServer, type OpenServerOptions } from "../../src/serve/start.js";
import type { LlamaServer } from "../../src/serve/server.js";

/** The eval fixture model: vocab 1200, context 512, with tokenizer.model. */
export const evalModel = path.join(fixturesDir, "eval", "model");

export interface Running {
  server: LlamaServer;
  url: string;
  close(): Promise<void>;
}

export async function startServer(opts: Partial<OpenServerOptions> = {}): Promise<Running> {
  const server = await openServer({ model: evalModel, log: () => {}, ...opts });
  const { url } = await server.listen(0, "127.0.0.1");
  return { server, url, close: () => server.close(1000) };
}

/** A copy of the eval model whose config allows `context` positions (RoPE works at any length): long generations for timing-sensitive tests. */
export function longContextModel(context: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-serve-"));
  const out = path.join(dir, "long-model");
  fs.mkdirSync(out);
  for (const f of fs.readdirSync(evalModel)) fs.copyFileSync(path.join(evalModel, f), path.join(out, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")) as Record<string, unknown>;
  cfg["max_position_embeddings"] = context;
  fs.writeFileSync(path.join(out, "config.json"), JSON.stringify(cfg));
  return out;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** POST (or GET without body) with fetch; `body` is sent as is when it is a string. */
export async function call(url: string, body?: unknown, init: RequestInit = {}): Promise<RawResponse> {
  const r = await fetch(url, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 10));
  }
}
