/**
 * The chat page at GET / of `llama-ts serve`, driven in headless Chromium against the real
 * server (slow end-to-end test, a few seconds): typing a message and pressing Enter streams
 * the reply into the page (several intermediate lengths are seen before it completes); at
 * temperature 0 the page's final text equals the server's non-streamed answer to the same
 * request, also for a second turn (the history is sent); Stop cancels a long generation,
 * leaving a prefix of the full reply (and the server stops decoding); a rejected request shows
 * the server's error message; with `--api-key` the key typed into the page is sent; settings
 * (not the conversation) survive a reload.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Page } from "puppeteer-core";
import os from "node:os";
import { fixturesDir, repoRoot } from "../helpers.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { saveGguf } from "../../src/formats/gguf-model.js";
import { paramLayout } from "../../src/model/params.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { parseModelProto } from "../../src/tokenizer/model-proto.js";
import { browserSkipReason, launchBrowser, openPage } from "../helpers/browser.js";
import { spawnServer } from "../helpers/server-process.js";

/** Tiny model with a tokenizer: 2 layers, dim 48, context 512 (max_position_embeddings). */
const model = path.join(fixturesDir, "eval", "model");
const context = (JSON.parse(fs.readFileSync(path.join(model, "config.json"), "utf8")) as { max_position_embeddings: number }).max_position_embeddings;

/**
 * The model the chat server runs: the tiny model, made slow without changing what it says. Its
 * FFN is widened from 96 to 32768 units whose gate, up and down weights are all zero (each
 * adds exactly 0 to the residual), so it writes the same kind of story at a few ms per token.
 * With the tiny model itself a whole 448-token reply takes ~0.1 s: on a fast or busy machine
 * it could be finished before Stop reached the server, and "the server stopped decoding"
 * would be luck.
 */
function writeServedModel(file: string): void {
  const tiny = loadModelFolder(model);
  const config: LlamaConfig = { ...tiny.config, intermediateSize: 32768 };
  const from = new Map(paramLayout(tiny.config).specs.map((spec) => [spec.name, spec]));
  const layout = paramLayout(config);
  const params = new Float32Array(layout.total);
  for (const spec of layout.specs) {
    const old = from.get(spec.name)!;
    const [rows, cols] = old.shape.length === 2 ? old.shape as [number, number] : [1, old.size];
    const stride = spec.shape.length === 2 ? spec.shape[1]! : spec.size;
    for (let r = 0; r < rows; r++) params.set(tiny.params.subarray(old.offset + r * cols, old.offset + (r + 1) * cols), spec.offset + r * stride);
  }
  saveGguf(file, config, params, { type: "f32", tokenizer: parseModelProto(fs.readFileSync(path.join(model, "tokenizer.model"))) });
}
const serveBuilt = fs.existsSync(path.join(repoRoot, "dist", "src", "cli", "commands", "serve.js"));
const skip = browserSkipReason() ?? (serveBuilt ? undefined : "`llama-ts serve` is not built (dist/src/cli/commands/serve.js missing)");

interface ChatMessage { role: "system" | "user" | "assistant"; content: string }
interface Sampling { temperature: number; top_p: number; max_tokens: number }

/** The server's non-streamed answer: the independent reference for what the page shows. */
async function apiReply(base: string, modelId: string, messages: ChatMessage[], s: Sampling): Promise<{ content: string; tokens: number }> {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: modelId, messages, ...s }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  const body = (await r.json()) as { choices: Array<{ message: { content: string } }>; usage: { completion_tokens: number } };
  return { content: body.choices[0]!.message.content, tokens: body.usage.completion_tokens };
}

/** One unlabelled sample of the server's Prometheus text at GET /metrics. */
async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m !== null, `no ${name} in /metrics`);
  return Number(m[1]);
}

async function setValue(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (el, v) => {
    (el as HTMLInputElement).value = v;
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }, value);
}

/**
 * Starts recording the length of the newest assistant message's text after every DOM change
 * (MutationObserver), so the test sees what a reader saw while the reply streamed in.
 */
async function recordReplyLengths(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { replyLengths: number[]; replyObserver?: MutationObserver };
    w.replyObserver?.disconnect();
    w.replyLengths = [];
    const messages = document.getElementById("messages")!;
    w.replyObserver = new MutationObserver(() => {
      const all = messages.querySelectorAll(".message.assistant .content");
      const last = all[all.length - 1];
      if (last !== undefined) w.replyLengths.push(last.textContent!.length);
    });
    w.replyObserver.observe(messages, { subtree: true, childList: true, characterData: true });
  });
}

async function sendAndWait(page: Page, text: string, status: string): Promise<{ text: string; lengths: number[] }> {
  const before = await page.$$eval(".message.assistant", (els) => els.length);
  await recordReplyLengths(page);
  await page.focus("#input");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  await page.waitForFunction((n, st) => {
    const all = document.querySelectorAll(".message.assistant");
    return all.length > n && (all[all.length - 1] as HTMLElement).dataset.status === st && document.body.dataset.state === "idle";
  }, {}, before, status);
  return page.evaluate(() => {
    const all = document.querySelectorAll(".message.assistant .content");
    return { text: all[all.length - 1]!.textContent!, lengths: (window as unknown as { replyLengths: number[] }).replyLengths };
  });
}

test("chat page in headless Chromium: streams, matches the API at temperature 0, stops, shows errors, API key", { skip, timeout: 240_000 }, async (t) => {
  // Both take seconds on a busy machine: start them together, and clean up either if the other fails.
  const served = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-chat-")), "story-512.gguf");
  writeServedModel(served);
  process.on("exit", () => fs.rmSync(path.dirname(served), { recursive: true, force: true }));
  const [started, launched] = await Promise.allSettled([spawnServer(["serve", "--model", served, "--port", "0"]), launchBrowser()]);
  if (started.status === "rejected" || launched.status === "rejected") {
    if (started.status === "fulfilled") await started.value.stop();
    if (launched.status === "fulfilled") await launched.value.close();
    throw started.status === "rejected" ? started.reason : (launched as PromiseRejectedResult).reason;
  }
  const server = started.value;
  const browser = launched.value;
  try {
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    const modelId = models.data[0]!.id;
    const { page, problems } = await openPage(browser, `${server.url}/`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    assert.equal(await page.$eval("#model", (el) => el.textContent), modelId, "the page names the served model");

    const sampling: Sampling = { temperature: 0, top_p: 0.95, max_tokens: 48 };
    await setValue(page, "#temperature", "0");
    await setValue(page, "#top-p", String(sampling.top_p));
    await setValue(page, "#max-tokens", String(sampling.max_tokens));
    const system = "You are a storyteller.";
    await setValue(page, "#system", system);

    await t.test("Shift+Enter adds a new line and sends nothing", async () => {
      await page.focus("#input");
      await page.keyboard.type("one");
      await page.keyboard.down("Shift");
      await page.keyboard.press("Enter");
      await page.keyboard.up("Shift");
      await page.keyboard.type("two");
      assert.equal(await page.$eval("#input", (el) => (el as HTMLTextAreaElement).value), "one\ntwo");
      assert.equal(await page.$$eval(".message", (els) => els.length), 0);
      await setValue(page, "#input", "");
    });

    const history: ChatMessage[] = [{ role: "system", content: system }];
    await t.test("a message streams in and ends as the API's greedy reply", async () => {
      const user = "Once upon a time there was a little dog.";
      const shown = await sendAndWait(page, user, "done");
      history.push({ role: "user", content: user });
      const { content: expected, tokens } = await apiReply(server.url, modelId, history, sampling);
      assert.ok(expected.length > 0, "the model says something");
      assert.equal(shown.text, expected);
      const partial = new Set(shown.lengths.filter((n) => n > 0 && n < expected.length));
      assert.ok(partial.size >= 2, `saw intermediate lengths ${[...partial].join(", ")} of ${expected.length}: the reply did not stream`);
      assert.match(await page.$eval("#stats", (el) => el.textContent!), new RegExp(`^${tokens} tokens · [\\d.]+ tok/s`));
      history.push({ role: "assistant", content: expected });
    });

    await t.test("the second turn sends the whole conversation", async () => {
      const user = "What did the dog do next?";
      const shown = await sendAndWait(page, user, "done");
      history.push({ role: "user", content: user });
      assert.equal(shown.text, (await apiReply(server.url, modelId, history, sampling)).content);
    });

    await t.test("settings survive a reload; the conversation does not", async () => {
      await page.reload({ waitUntil: "load" });
      await page.waitForFunction(() => document.body.dataset.state === "idle");
      const values = await page.evaluate(() => ["system", "temperature", "top-p", "max-tokens"].map((id) => (document.getElementById(id) as HTMLInputElement).value));
      assert.deepEqual(values, [system, "0", String(sampling.top_p), String(sampling.max_tokens)]);
      assert.equal(await page.$eval("#temperature-value", (el) => el.textContent), "0");
      assert.equal(await page.$$eval(".message", (els) => els.length), 0);
    });

    await t.test("Stop cancels a long generation", async () => {
      await page.click("#clear");
      const maxTokens = context - 64;
      await setValue(page, "#max-tokens", String(maxTokens));
      const user = "Tell me a very long story.";
      const { content: full, tokens: fullTokens } = await apiReply(server.url, modelId, [{ role: "system", content: system }, { role: "user", content: user }], { ...sampling, max_tokens: maxTokens });
      assert.equal(fullTokens, maxTokens, "unstopped, the reply runs to max_tokens (no end of sequence), so an early stop is measurable");
      const generatedBefore = await metric(server.url, "llamats_generated_tokens_total");
      // Press Stop from inside the page as soon as the first text arrives.
      await page.evaluate(() => {
        const messages = document.getElementById("messages")!;
        const obs = new MutationObserver(() => {
          const c = messages.querySelector(".message.assistant .content");
          if (c !== null && c.textContent!.length > 0) { obs.disconnect(); document.getElementById("stop")!.click(); }
        });
        obs.observe(messages, { subtree: true, childList: true, characterData: true });
      });
      const stopped = await sendAndWait(page, user, "stopped");
      assert.ok(stopped.text.length > 0 && stopped.text.length < full.length, `stopped after ${stopped.text.length} of ${full.length} characters`);
      assert.ok(full.startsWith(stopped.text), "what was shown is a prefix of the full reply");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await page.$eval(".message.assistant .content", (el) => el.textContent), stopped.text, "nothing arrives after Stop");
      assert.equal(await page.$eval("#stop", (el) => (el as HTMLButtonElement).disabled), true);
      assert.match(await page.$eval("#stats", (el) => el.textContent!), /stopped by you/);
      // The server saw the disconnect: decoding ended early and freed its slot.
      for (let i = 0; i < 50 && (await metric(server.url, "llamats_sequences_in_flight")) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await metric(server.url, "llamats_sequences_in_flight"), 0);
      const generated = (await metric(server.url, "llamats_generated_tokens_total")) - generatedBefore;
      assert.ok(generated < maxTokens, `the server generated ${generated} of ${maxTokens} tokens after Stop`);
    });

    await t.test("a rejected request shows the server's error message", async () => {
      const tooMany = context * 4;
      await setValue(page, "#max-tokens", String(tooMany));
      const body = { model: modelId, messages: [{ role: "user", content: "hi" }], stream: true, max_tokens: tooMany };
      const r = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
      const message = ((await r.json()) as { error: { message: string } }).error.message;
      await page.click("#clear");
      await page.focus("#input");
      await page.keyboard.type("hi");
      await page.click("#send");
      await page.waitForSelector("#error:not([hidden])");
      assert.ok((await page.$eval("#error", (el) => el.textContent!)).includes(message));
      assert.equal(await page.$eval("#input", (el) => (el as HTMLTextAreaElement).value), "hi", "the message goes back into the box");
      assert.equal(await page.$$eval(".message", (els) => els.length), 0);
    });

    await t.test("with --api-key the page asks for the key, then works", async () => {
      const locked = await spawnServer(["serve", "--model", served, "--port", "0", "--api-key", "sesame"]);
      try {
        const opened = await openPage(browser, `${locked.url}/`);
        const p = opened.page;
        await p.waitForSelector("#error:not([hidden])");
        assert.match(await p.$eval("#error", (el) => el.textContent!), /API key/);
        await p.type("#api-key", "sesame");
        await p.keyboard.press("Tab"); // commits the field: the page lists the models again
        await p.waitForFunction((id) => document.getElementById("model")!.textContent === id, {}, modelId);
        assert.equal(await p.$eval("#error", (el) => (el as HTMLElement).hidden), true);
        await setValue(p, "#temperature", "0");
        await setValue(p, "#max-tokens", "16");
        const shown = await sendAndWait(p, "Hello", "done");
        const r = await fetch(`${locked.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer sesame" },
          body: JSON.stringify({ model: modelId, messages: [{ role: "user", content: "Hello" }], temperature: 0, top_p: 0.95, max_tokens: 16 }),
        });
        assert.equal(shown.text, ((await r.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content);
        problems.push(...opened.problems.filter((x) => !/status of 401/.test(x)));
        await p.close();
      } finally {
        await locked.stop();
      }
    });

    // The 4xx above is logged by Chromium as a failed resource load; anything else is a bug.
    const unexpected = problems.filter((p) => !/status of 4\d\d/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
