/**
 * Chat templates (rendered by @huggingface/jinja) and the chat REPL: a Llama-2-style template
 * renders the documented prompt format, special tokens in the rendered text become their ids,
 * the fallback transcript stops before the user's next turn, and `llama-ts chat` with piped
 * input prints exactly what the session generates for the same conversation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { loadModel } from "../../src/runtime/load.js";
import { GenerationSession } from "../../src/generate/session.js";
import { chatGenerateOptions, FALLBACK_CHAT_TEMPLATE, renderChat } from "../../src/generate/chat.js";
import { UserError } from "../../src/util/errors.js";
import { fixturesDir, repoRoot } from "../helpers.js";

const evalModel = path.join(fixturesDir, "eval", "model");

// The Llama 2 chat format: <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user} [/INST]
const LLAMA2_STYLE =
  "{% if messages[0]['role'] == 'system' %}{% set sys = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% set msgs = messages[1:] %}" +
  "{% else %}{% set sys = '' %}{% set msgs = messages %}{% endif %}" +
  "{% for m in msgs %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate') }}{% endif %}" +
  "{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + (sys if loop.first else '') + m['content'] + ' [/INST]' }}" +
  "{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";

test("a Llama-2-style template renders the documented format; its special tokens become ids", async () => {
  const lm = { ...(await loadModel(evalModel)), chatTemplate: LLAMA2_STYLE };
  const text = renderChat(lm, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello." },
    { role: "user", content: "Bye" },
  ]);
  assert.equal(text, "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
  const tok = lm.tokenizer!;
  const ids = tok.encode(text, { parseSpecial: true });
  // <s> and </s> are single control ids; the text between them is encoded as usual.
  const bos = tok.bosId;
  const eos = tok.eosId;
  assert.equal(ids[0], bos);
  assert.equal(ids.filter((i) => i === bos).length, 2);
  assert.equal(ids.filter((i) => i === eos).length, 1);
  const e = ids.indexOf(eos);
  assert.deepEqual(ids.slice(1, e), tok.encode("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. "));
  assert.deepEqual(ids.slice(e + 2), tok.encode("[INST] Bye [/INST]"));
  // Without parseSpecial the same text is plain characters.
  assert.ok(!tok.encode(text).includes(bos));
  assert.throws(
    () => renderChat(lm, [{ role: "assistant", content: "x" }]),
    (err: unknown) => err instanceof UserError && /roles must alternate/.test(err.message),
  );
});

test("base models get the fallback transcript, which stops before the user's next turn", async () => {
  const lm = await loadModel(evalModel);
  assert.equal(lm.chatTemplate, undefined);
  const text = renderChat(lm, [
    { role: "system", content: "S" },
    { role: "user", content: "U1" },
    { role: "assistant", content: "A1" },
    { role: "user", content: "U2" },
  ]);
  assert.equal(text, "<s>S\n\nUser: U1\nAssistant: A1</s>\nUser: U2\nAssistant:");
  assert.equal(renderChat(lm, [{ role: "user", content: "x" }], { template: FALLBACK_CHAT_TEMPLATE, addGenerationPrompt: false }), "<s>User: x\n");
  const o = chatGenerateOptions(lm, { stop: ["."] });
  assert.deepEqual(o.stop, [".", "\nUser:"]);
  assert.equal(o.bos, false);
  assert.equal(o.parseSpecial, true);
});

test("llama-ts chat with piped input prints what the session generates for the conversation", async () => {
  const lm = await loadModel(evalModel);
  const session = new GenerationSession(lm, { parallel: 1 });
  const gen = { maxTokens: 10, temperature: 0 };
  const history: { role: string; content: string }[] = [];
  const expected: string[] = [];
  for (const user of ["hello there", "and again"]) {
    history.push({ role: "user", content: user });
    const r = await session.generate(renderChat(lm, history), chatGenerateOptions(lm, gen));
    const reply = r.text.replace(/^\s+/, "");
    expected.push(reply);
    history.push({ role: "assistant", content: reply });
  }
  const out = spawnSync(process.execPath, [path.join(repoRoot, "dist/src/cli/main.js"), "chat", "--model", evalModel, "--temperature", "0", "--max-tokens", "10"], {
    input: "hello there\nand again\n",
    encoding: "utf8",
  });
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout, expected.map((e) => e + "\n").join(""));
});
