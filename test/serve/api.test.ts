/**
 * `llama-ts serve` driven by the official `openai` npm client: completions (string and token
 * prompts) equal `llama-ts generate`, streaming equals non-streaming, chat, echo + logprobs equal
 * log_softmax of `llama-ts logits`, an lm-evaluation-harness loglikelihood request equals the
 * eval scorer, and 16 concurrent greedy requests equal each run alone.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";
import OpenAI from "openai";
import { repoRoot } from "../helpers.js";
import { evalModel, startServer, type Running } from "./helpers.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import { loadModelSync } from "../../src/runtime/load.js";
import { LoglikelihoodScorer } from "../../src/eval/scorer.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const tokenizer = SentencePieceTokenizer.fromFile(path.join(evalModel, "tokenizer.model"));

let srv: Running;
let client: OpenAI;

before(async () => {
  srv = await startServer({ parallel: 4 });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "none", maxRetries: 0 });
});
after(async () => srv.close());

/** Runs the CLI without blocking the event loop (the server under test lives in this process). */
async function runCli(args: string[]): Promise<string> {
  const r = await promisify(execFile)(process.execPath, [cli, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return r.stdout;
}

/** log_softmax of each row of `llama-ts logits`, in float64. */
async function cliLogSoftmax(ids: number[]): Promise<number[][]> {
  const { logits } = JSON.parse(await runCli(["logits", "--model", evalModel, "--tokens", ids.join(",")])) as { logits: number[][] };
  return logits.map((row) => {
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    return row.map((v) => v - lse);
  });
}

const modelId = path.basename(evalModel);

/** The text `generated` adds after `prompt` (decoded in context, as a completion returns it). */
function continuation(prompt: number[], generated: number[]): string {
  return tokenizer.decode([...prompt, ...generated]).slice(tokenizer.decode(prompt).length);
}

test("GET /v1/models lists the model by its folder name", async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [modelId]);
});

test("greedy completion of a string prompt equals `llama-ts generate --temperature 0`", async () => {
  const prompt = "Once upon a time";
  const want = JSON.parse(await runCli(["generate", "--model", evalModel, "--prompt", prompt, "--temperature", "0", "--max-tokens", "12", "--json"])) as { tokens: number[]; text: string };
  const r = await client.completions.create({ model: modelId, prompt, max_tokens: 12, temperature: 0 });
  assert.equal(r.choices[0]!.text, continuation(tokenizer.encode(prompt, { bos: true }), want.tokens));
  assert.equal(r.usage!.prompt_tokens, tokenizer.encode(prompt, { bos: true }).length);
  assert.equal(r.usage!.completion_tokens, want.tokens.length);
  assert.equal(r.choices[0]!.finish_reason, want.tokens.length === 12 ? "length" : "stop");
});

test("token-id prompts are used as given (= `generate --tokens`); arrays of prompts give one choice each", async () => {
  const ids = [1, 450, 77, 9, 300];
  const want = JSON.parse(await runCli(["generate", "--model", evalModel, "--tokens", ids.join(","), "--temperature", "0", "--max-tokens", "10", "--json"])) as { tokens: number[] };
  const r = await client.completions.create({ model: modelId, prompt: ids, max_tokens: 10, temperature: 0 });
  const wantText = continuation(ids, want.tokens);
  assert.equal(r.choices[0]!.text, wantText);
  const alone = await client.completions.create({ model: modelId, prompt: "The sea", max_tokens: 10, temperature: 0 });
  const both = await client.completions.create({ model: modelId, prompt: [ids, tokenizer.encode("The sea", { bos: true })], max_tokens: 10, temperature: 0 });
  assert.deepEqual(both.choices.map((c) => [c.index, c.text]), [[0, wantText], [1, alone.choices[0]!.text]]);
});

test("streamed completion chunks (text and logprobs) concatenate to the non-streamed ones", async () => {
  const body = { model: modelId, prompt: "The whale", max_tokens: 20, temperature: 0.8, top_p: 0.9, seed: 7, logprobs: 2 };
  const whole = await client.completions.create(body);
  let text = "";
  let finish: string | null = null;
  let chunks = 0;
  const lp = { tokens: [] as string[], token_logprobs: [] as number[], text_offset: [] as number[] };
  let usage: OpenAI.Completions.CompletionUsage | undefined;
  for await (const c of await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })) {
    text += c.choices[0]?.text ?? "";
    finish = c.choices[0]?.finish_reason ?? finish;
    const l = c.choices[0]?.logprobs;
    if (l) {
      lp.tokens.push(...l.tokens!);
      lp.token_logprobs.push(...(l.token_logprobs as number[]));
      lp.text_offset.push(...l.text_offset!);
    }
    usage = c.usage ?? usage;
    chunks++;
  }
  assert.ok(chunks > 2, `${chunks} chunks`);
  const w = whole.choices[0]!;
  assert.equal(text, w.text);
  assert.equal(finish, w.finish_reason);
  assert.deepEqual(lp.tokens, w.logprobs!.tokens);
  assert.deepEqual(lp.token_logprobs, w.logprobs!.token_logprobs);
  assert.deepEqual(lp.text_offset, w.logprobs!.text_offset);
  assert.deepEqual(usage, whole.usage);
  // Without echo, offsets start at the prompt's length.
  assert.equal(w.logprobs!.text_offset![0], [...tokenizer.decode(tokenizer.encode("The whale", { bos: true }))].length);
});

test("chat completion, streamed and not, with stop strings", async () => {
  const messages = [
    { role: "system" as const, content: "You are terse." },
    { role: "user" as const, content: "Tell me about the sea." },
  ];
  const whole = await client.chat.completions.create({ model: modelId, messages, max_tokens: 16, temperature: 0 });
  const msg = whole.choices[0]!.message;
  assert.equal(msg.role, "assistant");
  assert.ok(typeof msg.content === "string" && msg.content.length > 0);
  let text = "";
  let role = "";
  for await (const c of await client.chat.completions.create({ model: modelId, messages, max_tokens: 16, temperature: 0, stream: true })) {
    role ||= c.choices[0]?.delta.role ?? "";
    text += c.choices[0]?.delta.content ?? "";
  }
  assert.equal(role, "assistant");
  assert.equal(text, msg.content);
  // A stop string cut from the middle of the text: the reply ends right before it.
  const stop = msg.content!.slice(3, 5);
  const cut = await client.chat.completions.create({ model: modelId, messages, max_tokens: 16, temperature: 0, stop: [stop] });
  assert.equal(cut.choices[0]!.message.content, msg.content!.slice(0, msg.content!.indexOf(stop)));
  assert.equal(cut.choices[0]!.finish_reason, "stop");
});

test("echo + logprobs: prompt token_logprobs = log_softmax of `llama-ts logits`; top_logprobs and text_offset", async () => {
  const prompt = "The whale swam by";
  const ids = tokenizer.encode(prompt, { bos: true });
  const k = 5;
  const r = await client.completions.create({ model: modelId, prompt, max_tokens: 0, echo: true, logprobs: k, temperature: 0 });
  const c = r.choices[0]!;
  const lp = c.logprobs!;
  assert.equal(lp.tokens!.length, ids.length);
  assert.equal(lp.token_logprobs![0], null);
  assert.equal(lp.top_logprobs![0], null);
  const ref = await cliLogSoftmax(ids);
  for (let i = 1; i < ids.length; i++) {
    const want = ref[i - 1]![ids[i]!]!;
    assert.ok(Math.abs(lp.token_logprobs![i]! - want) < 1e-4, `token ${i}: ${lp.token_logprobs![i]} vs ${want}`);
    const top = Object.values(lp.top_logprobs![i]!).sort((a, b) => b - a);
    const wantTop = [...ref[i - 1]!].sort((a, b) => b - a).slice(0, k);
    assert.ok(top.length >= 1 && top.length <= k);
    assert.ok(Math.abs(top[0]! - wantTop[0]!) < 1e-4, `best alternative at ${i}`);
    for (const v of top) assert.ok(wantTop.some((w) => Math.abs(w - v) < 1e-4), `top value ${v} at ${i} is not among the ${k} best`);
  }
  // The echoed text is the prompt; tokens concatenate to it; text_offset indexes it (code points).
  assert.equal(c.text, prompt);
  assert.equal(lp.tokens!.join(""), prompt);
  const chars = [...c.text];
  lp.text_offset!.forEach((off, i) => {
    const end = i + 1 < lp.text_offset!.length ? lp.text_offset![i + 1]! : chars.length;
    assert.equal(chars.slice(off, end).join(""), lp.tokens![i]);
  });
});

test("an lm-evaluation-harness loglikelihood request equals the eval scorer", async () => {
  const lm = loadModelSync(evalModel);
  const scorer = new LoglikelihoodScorer(lm.model, lm.tokenizer!);
  for (const [context, continuation] of [["The whale swam", " across the sea"], ["Question: where? Answer:", " in the house"]] as const) {
    const req = scorer.tokenize(context, continuation);
    const want = scorer.loglikelihoodTokens(req);
    const ctxlen = req.context.length;
    const prompt = [...req.context, ...req.continuation];
    // The harness today: max_tokens 1, logprobs 1, and it drops the last (generated) token.
    const r = await client.completions.create({ model: modelId, prompt: [prompt], echo: true, max_tokens: 1, logprobs: 1, temperature: 0, seed: 1234 });
    const lp = r.choices[0]!.logprobs!;
    assert.equal(lp.token_logprobs!.length, prompt.length + 1);
    const cont = lp.token_logprobs!.slice(ctxlen, -1) as number[];
    const tops = lp.top_logprobs!.slice(ctxlen, -1) as Array<Record<string, number>>;
    const sum = cont.reduce((s, v) => s + v, 0);
    const greedy = cont.every((v, i) => v === Math.max(...Object.values(tops[i]!)));
    assert.ok(Math.abs(sum - want.logprob) < 1e-4, `${sum} vs ${want.logprob}`);
    assert.equal(greedy, want.greedy);
    // The older harness shape: max_tokens 0, the continuation is the tail.
    const r0 = await client.completions.create({ model: modelId, prompt, echo: true, max_tokens: 0, logprobs: 1, temperature: 0 });
    const sum0 = (r0.choices[0]!.logprobs!.token_logprobs!.slice(ctxlen) as number[]).reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(sum0 - want.logprob) < 1e-4);
  }
});

test("16 concurrent greedy requests give exactly the tokens each gives alone", async () => {
  const prompts = Array.from({ length: 16 }, (_, i) => `Story ${i}: the ${["cat", "sea", "king", "ship"][i % 4]} was`);
  const body = (p: string) => ({ model: modelId, prompt: p, max_tokens: 8 + (i(p) % 5), temperature: 0, logprobs: 1 });
  const i = (p: string): number => prompts.indexOf(p);
  const alone: OpenAI.Completions.Completion[] = [];
  for (const p of prompts) alone.push(await client.completions.create(body(p)));
  const together = await Promise.all(prompts.map((p) => client.completions.create(body(p))));
  together.forEach((r, j) => {
    assert.equal(r.choices[0]!.text, alone[j]!.choices[0]!.text, `prompt ${j}`);
    assert.deepEqual(r.choices[0]!.logprobs!.tokens, alone[j]!.choices[0]!.logprobs!.tokens, `prompt ${j}`);
  });
});

test("/tokenize and /detokenize use llama.cpp's shapes", async () => {
  const tok = (await (await fetch(`${srv.url}/tokenize`, { method: "POST", body: JSON.stringify({ content: "Hello world" }) })).json()) as { tokens: number[] };
  assert.deepEqual(tok.tokens, tokenizer.encode("Hello world"));
  const withBos = (await (await fetch(`${srv.url}/tokenize`, { method: "POST", body: JSON.stringify({ content: "Hello", add_special: true, with_pieces: true }) })).json()) as { tokens: Array<{ id: number; piece: string }> };
  assert.deepEqual(withBos.tokens.map((t) => t.id), tokenizer.encode("Hello", { bos: true }));
  assert.equal(withBos.tokens[1]!.piece, tokenizer.idToPiece(withBos.tokens[1]!.id));
  const detok = (await (await fetch(`${srv.url}/detokenize`, { method: "POST", body: JSON.stringify({ tokens: tok.tokens }) })).json()) as { content: string };
  assert.equal(detok.content, "Hello world");
});

test("vLLM's /tokenize, /detokenize and /tokenizer_info shapes (lm-evaluation-harness tokenizer_backend=remote)", async () => {
  const post = async (p: string, body: unknown): Promise<Record<string, unknown>> =>
    (await (await fetch(`${srv.url}${p}`, { method: "POST", body: JSON.stringify(body) })).json()) as Record<string, unknown>;
  const tok = await post("/tokenize", { prompt: "Hello world", add_special_tokens: false });
  assert.deepEqual(tok["tokens"], tokenizer.encode("Hello world"));
  assert.equal(tok["count"], tokenizer.encode("Hello world").length);
  const detok = await post("/detokenize", { tokens: tokenizer.encode("Hello world") });
  assert.equal(detok["prompt"], "Hello world");
  const info = (await (await fetch(`${srv.url}/tokenizer_info`)).json()) as Record<string, unknown>;
  assert.equal(info["eos_token"], tokenizer.idToPiece(tokenizer.eosId));
  assert.equal(info["bos_token"], tokenizer.idToPiece(tokenizer.bosId));
});
