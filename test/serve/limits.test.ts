/**
 * The server under bad input and load: every malformed request gets its 4xx and OpenAI's error
 * body and the server keeps answering; a full queue is a 429 with Retry-After; a client that
 * disconnects frees its slot; the API key; GET / serves the chat page folder; metrics.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { call, longContextModel, startServer, waitFor } from "./helpers.js";

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function assertError(r: { status: number; json: unknown; text: string }, status: number, param?: string | null): ErrorBody {
  assert.equal(r.status, status, r.text);
  const body = r.json as ErrorBody;
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(typeof body.error.message, "string");
  assert.ok(body.error.message.length > 0);
  if (param !== undefined) assert.equal(body.error.param, param, body.error.message);
  return body;
}

test("bad requests get 4xx with OpenAI's error body and the server keeps serving", async () => {
  const srv = await startServer({ maxBodyBytes: 4096 });
  try {
    const c = `${srv.url}/v1/completions`;
    const chat = `${srv.url}/v1/chat/completions`;
    const cases: Array<[string, string, unknown, number, string | null | undefined]> = [
      ["malformed JSON", c, "{\"prompt\": ", 400, null],
      ["empty body", c, "", 400, null],
      ["not an object", c, "[1,2]", 400, undefined],
      ["missing prompt", c, {}, 400, "prompt"],
      ["prompt of the wrong type", c, { prompt: 5 }, 400, "prompt"],
      ["max_tokens a string", c, { prompt: "hi", max_tokens: "ten" }, 400, "max_tokens"],
      ["negative max_tokens", c, { prompt: "hi", max_tokens: -1 }, 400, "max_tokens"],
      ["max_tokens above the context", c, { prompt: "hi", max_tokens: 513 }, 400, "max_tokens"],
      ["temperature negative", c, { prompt: "hi", temperature: -1 }, 400, "temperature"],
      ["top_p above 1", c, { prompt: "hi", top_p: 1.5 }, 400, "top_p"],
      ["logprobs above 20", c, { prompt: "hi", logprobs: 21 }, 400, "logprobs"],
      ["n above 1", c, { prompt: "hi", n: 2 }, 400, "n"],
      ["token id outside the vocabulary", c, { prompt: [1, 1200] }, 400, "prompt"],
      ["negative token id", c, { prompt: [1, -3] }, 400, "prompt"],
      ["non-integer token id", c, { prompt: [1, 2.5] }, 400, "prompt"],
      ["empty token prompt", c, { prompt: [] }, 400, "prompt"],
      ["prompt longer than the context", c, { prompt: Array.from({ length: 513 }, () => 5) }, 400, "prompt"],
      ["logit_bias on an unknown token", c, { prompt: "hi", logit_bias: { "5000": 1 } }, 400, "logit_bias"],
      ["unknown model", c, { model: "gpt-4", prompt: "hi" }, 404, "model"],
      ["body over the limit", c, { prompt: "x".repeat(5000) }, 413, null],
      ["chat without messages", chat, { messages: [] }, 400, "messages"],
      ["chat message content of the wrong type", chat, { messages: [{ role: "user", content: 3 }] }, 400, "messages.0.content"],
      ["chat with an unknown model", chat, { model: "nope", messages: [{ role: "user", content: "hi" }] }, 404, "model"],
      ["tokenize without content", `${srv.url}/tokenize`, { text: "hi" }, 400, "content"],
      ["detokenize outside the vocabulary", `${srv.url}/detokenize`, { tokens: [99999] }, 400, "tokens"],
    ];
    for (const [what, url, body, status, param] of cases) {
      const r = await call(url, body);
      assertError(r, status, param);
      assert.ok(r.status !== 500, what);
    }
    assert.equal((await call(`${srv.url}/v1/completions`)).status, 405);
    assertError(await call(`${srv.url}/v2/nothing`, {}), 404);
    assertError(await call(`${srv.url}/v1/models/other`), 404, "model");
    const health = await call(`${srv.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: "ok" });
    const ok = await call(`${srv.url}/v1/completions`, { prompt: "hi", max_tokens: 2, temperature: 0 });
    assert.equal(ok.status, 200, ok.text);
  } finally {
    await srv.close();
  }
});

test("a full queue answers 429 with Retry-After; a disconnected client frees its slot", async () => {
  const srv = await startServer({ model: longContextModel(4096), parallel: 1, maxQueue: 0 });
  try {
    const ac = new AbortController();
    const long = await fetch(`${srv.url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ prompt: "Once", max_tokens: 4000, ignore_eos: true, stream: true, temperature: 0 }),
      signal: ac.signal,
    });
    assert.equal(long.status, 200);
    const reader = long.body!.getReader();
    await reader.read(); // the first event: the request holds the only slot
    // The event loop stays free while it decodes: /health answers at once.
    const t0 = performance.now();
    assert.equal((await call(`${srv.url}/health`)).status, 200);
    assert.ok(performance.now() - t0 < 2000, `/health took ${performance.now() - t0} ms during decoding`);
    assert.equal(srv.server.engine.stats().active, 1);
    const busy = await call(`${srv.url}/v1/completions`, { prompt: "hi", max_tokens: 2 });
    assertError(busy, 429);
    assert.equal(busy.headers.get("retry-after"), "1");
    ac.abort();
    await reader.cancel().catch(() => {});
    await waitFor(() => srv.server.engine.stats().active === 0 && srv.server.engine.stats().queued === 0);
    const metrics = await call(`${srv.url}/metrics`);
    assert.match(metrics.text, /^llamats_sequences_in_flight 0$/m);
    assert.match(metrics.text, /^llamats_queue_length 0$/m);
    assert.match(metrics.text, /^llamats_requests_total\{endpoint="\/v1\/completions",status="429"\} 1$/m);
    assert.ok(srv.server.metrics.generatedTokens < 4000, `the aborted request ran to its end (${srv.server.metrics.generatedTokens} tokens)`);
    // The slot is free again.
    const ok = await call(`${srv.url}/v1/completions`, { prompt: "hi", max_tokens: 2, temperature: 0 });
    assert.equal(ok.status, 200, ok.text);
  } finally {
    await srv.close();
  }
});

test("--api-key: 401 without the bearer token, open /health and chat page", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-static-"));
  fs.writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>chat</title>");
  fs.writeFileSync(path.join(dir, "app.js"), "console.log(1)");
  const srv = await startServer({ apiKey: "s3cret", staticDir: dir });
  try {
    const body = { prompt: "hi", max_tokens: 1 };
    assertError(await call(`${srv.url}/v1/completions`, body), 401);
    assertError(await call(`${srv.url}/v1/completions`, body, { headers: { Authorization: "Bearer wrong" } }), 401);
    assertError(await call(`${srv.url}/v1/models`), 401);
    const ok = await call(`${srv.url}/v1/completions`, body, { headers: { Authorization: "Bearer s3cret", "Content-Type": "application/json" } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await call(`${srv.url}/health`)).status, 200);
    const page = await call(`${srv.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /text\/html/);
    assert.equal(page.text, "<!doctype html><title>chat</title>");
    const js = await call(`${srv.url}/app.js`);
    assert.match(js.headers.get("content-type")!, /javascript/);
    assertError(await call(`${srv.url}/..%2F..%2Fetc%2Fpasswd`), 404);
    assertError(await call(`${srv.url}/missing.css`), 404);
  } finally {
    await srv.close();
  }
});

test("/metrics counts requests and tokens in Prometheus text", async () => {
  const srv = await startServer();
  try {
    const r = await call(`${srv.url}/v1/completions`, { prompt: [1, 5, 9], max_tokens: 3, temperature: 0, ignore_eos: true });
    assert.equal(r.status, 200, r.text);
    const m = (await call(`${srv.url}/metrics`)).text;
    assert.match(m, /^# TYPE llamats_requests_total counter$/m);
    assert.match(m, /^llamats_requests_total\{endpoint="\/v1\/completions",status="200"\} 1$/m);
    assert.match(m, /^llamats_prompt_tokens_total 3$/m);
    assert.match(m, /^llamats_generated_tokens_total 3$/m);
    assert.match(m, /^llamats_tokens_per_second \d+(\.\d+)?$/m);
  } finally {
    await srv.close();
  }
});
