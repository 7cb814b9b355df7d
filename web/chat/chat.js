/**
 * The chat page's logic: a conversation with the model served by the same origin.
 *
 * Protocol (OpenAI-compatible, as `llama-ts serve` implements it):
 *   GET  /v1/models            -> { data: [{ id }] }; the first id names the model in requests.
 *   POST /v1/chat/completions  <- { model, messages, stream: true, stream_options: { include_usage: true },
 *                                   temperature, top_p, max_tokens }
 *        -> text/event-stream: `data: {json}` events, each with choices[0].delta.content (text
 *           appended to the reply) and, on the last, choices[0].finish_reason; a final event may carry
 *           usage.completion_tokens; then `data: [DONE]`.
 *        A failed request answers non-2xx with { error: { message, type, param, code } }.
 *
 * messages = [system (if the box is not empty), ...every earlier turn, the new user turn].
 * Tokens/s is (tokens - 1) over the time from the first to the last content event, so it is the
 * decode rate; tokens is usage.completion_tokens when the server sends it, else the number of
 * content events. The time to the first token is shown beside it.
 *
 * With `serve --api-key`, the page itself is open but the API needs `Authorization: Bearer KEY`:
 * the key typed in #api-key is sent with every request (kept in this tab's sessionStorage only).
 *
 * State visible to tests: body[data-state] is "loading" | "idle" | "generating"; each reply is
 * `.message.assistant` with data-status "streaming" | "done" | "stopped" | "error" and its text
 * in `.content`.
 */

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  messages: $("messages"),
  emptyHint: $("empty-hint"),
  error: $("error"),
  composer: /** @type {HTMLFormElement} */ ($("composer")),
  input: /** @type {HTMLTextAreaElement} */ ($("input")),
  send: /** @type {HTMLButtonElement} */ ($("send")),
  stop: /** @type {HTMLButtonElement} */ ($("stop")),
  clear: /** @type {HTMLButtonElement} */ ($("clear")),
  system: /** @type {HTMLTextAreaElement} */ ($("system")),
  temperature: /** @type {HTMLInputElement} */ ($("temperature")),
  temperatureValue: /** @type {HTMLOutputElement} */ ($("temperature-value")),
  topP: /** @type {HTMLInputElement} */ ($("top-p")),
  topPValue: /** @type {HTMLOutputElement} */ ($("top-p-value")),
  maxTokens: /** @type {HTMLInputElement} */ ($("max-tokens")),
  apiKey: /** @type {HTMLInputElement} */ ($("api-key")),
  model: $("model"),
  stats: $("stats"),
};

/** @type {{ modelId: string | null, history: Array<{ role: string, content: string }>, controller: AbortController | null }} */
const state = { modelId: null, history: [], controller: null };

// ---------------------------------------------------------------------------------------------
// Server-sent events

/**
 * Yields the parsed JSON of each `data:` event of an SSE response body, until `data: [DONE]`
 * or the end of the stream. Events are separated by a blank line; a multi-line event's data
 * lines are joined with "\n"; comment lines (":") and other fields are ignored.
 * @param {ReadableStream<Uint8Array>} body
 */
async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // CRLF and CR end lines too; a CR at the end of a chunk waits, its LF may come next.
      buffer = buffer.replace(done ? /\r\n?/g : /\r\n|\r(?=[^])/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data === "") continue;
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/** The message of an OpenAI-style error body, or the raw text when it is not one. */
async function errorMessage(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && body.error && typeof body.error.message === "string") return body.error.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim() || response.statusText || "request failed";
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** Appends a message bubble; returns it and the Text node that holds its content. */
function addMessage(role, text) {
  ui.emptyHint.hidden = true;
  const article = document.createElement("article");
  article.className = `message ${role}`;
  const who = document.createElement("h3");
  who.className = "role";
  who.textContent = role === "user" ? "You" : "Assistant";
  const content = document.createElement("div");
  content.className = "content";
  const textNode = document.createTextNode(text);
  content.append(textNode);
  article.append(who, content);
  ui.messages.append(article);
  scrollToEnd(true);
  return { article, textNode };
}

/** Keeps the newest text in view unless the reader has scrolled up. */
function scrollToEnd(force) {
  const box = ui.messages;
  if (force || box.scrollHeight - box.scrollTop - box.clientHeight < 80) box.scrollTop = box.scrollHeight;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.textContent = "";
  ui.error.hidden = true;
}

function setGenerating(on) {
  document.body.dataset.state = on ? "generating" : "idle";
  ui.send.disabled = on;
  ui.stop.disabled = !on;
}

function formatStats({ tokens, firstMs, decodeMs, finish }) {
  const parts = [`${tokens} token${tokens === 1 ? "" : "s"}`];
  if (tokens > 1 && decodeMs > 0) parts.push(`${((tokens - 1) / (decodeMs / 1000)).toFixed(1)} tok/s`);
  if (firstMs !== null) parts.push(`first token ${Math.round(firstMs)} ms`);
  if (finish === "length") parts.push("stopped at the token limit");
  if (finish === "stopped") parts.push("stopped by you");
  return parts.join(" · ");
}

// ---------------------------------------------------------------------------------------------
// Talking to the server

function numberFrom(input, fallback) {
  const v = Number(input.value);
  return input.value.trim() !== "" && Number.isFinite(v) ? v : fallback;
}

/** Request headers: JSON plus the API key when one is typed in. */
function headers(extra = {}) {
  const key = ui.apiKey.value.trim();
  return key === "" ? extra : { ...extra, authorization: `Bearer ${key}` };
}

function requestBody(history) {
  const messages = [];
  const system = ui.system.value.trim();
  if (system !== "") messages.push({ role: "system", content: system });
  messages.push(...history);
  /** @type {Record<string, unknown>} */
  const body = {
    messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: numberFrom(ui.temperature, 0.8),
    top_p: numberFrom(ui.topP, 0.95),
    max_tokens: Math.max(1, Math.floor(numberFrom(ui.maxTokens, 256))),
  };
  if (state.modelId !== null) body.model = state.modelId;
  return body;
}

async function loadModelName() {
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    if (!response.ok) throw new Error(await errorMessage(response));
    const list = await response.json();
    const id = list && Array.isArray(list.data) && list.data[0] ? list.data[0].id : null;
    state.modelId = typeof id === "string" ? id : null;
    ui.model.textContent = state.modelId ?? "(none listed)";
    clearError();
  } catch (err) {
    ui.model.textContent = "unknown";
    showError(`Could not list the server's models: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Sends the input box as the next user turn and streams the reply into a new bubble. */
async function send() {
  const text = ui.input.value;
  if (text.trim() === "" || state.controller !== null) return;
  clearError();
  ui.input.value = "";
  // This turn belongs to this conversation even if "New chat" replaces it meanwhile.
  const history = state.history;
  history.push({ role: "user", content: text });
  const userBubble = addMessage("user", text);
  const reply = addMessage("assistant", "");
  reply.article.dataset.status = "streaming";
  reply.article.setAttribute("aria-busy", "true");

  const controller = new AbortController();
  state.controller = controller;
  setGenerating(true);
  ui.stats.textContent = "";

  const started = performance.now();
  let firstAt = null;
  let lastAt = null;
  let tokens = 0;
  let usageTokens = null;
  let finish = null;
  let statsAt = started;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers({ "content-type": "application/json", accept: "text/event-stream" }),
      body: JSON.stringify(requestBody(history)),
      signal: controller.signal,
    });
    if (!response.ok || response.body === null) throw new Error(`The server answered ${response.status}: ${await errorMessage(response)}`);
    for await (const event of sseEvents(response.body)) {
      if (event.error) throw new Error(event.error.message ?? JSON.stringify(event.error));
      const choice = event.choices && event.choices[0];
      const delta = choice && choice.delta && typeof choice.delta.content === "string" ? choice.delta.content : "";
      if (delta !== "") {
        reply.textNode.appendData(delta);
        tokens++;
        lastAt = performance.now();
        if (firstAt === null) firstAt = lastAt;
        scrollToEnd(false);
        if (lastAt - statsAt > 250) {
          statsAt = lastAt;
          ui.stats.textContent = formatStats({ tokens, firstMs: firstAt - started, decodeMs: lastAt - firstAt, finish: null });
        }
      }
      if (choice && choice.finish_reason) finish = choice.finish_reason;
      if (event.usage && typeof event.usage.completion_tokens === "number") usageTokens = event.usage.completion_tokens;
    }
    reply.article.dataset.status = "done";
    if (finish) reply.article.dataset.finish = finish;
    history.push({ role: "assistant", content: reply.textNode.data });
  } catch (err) {
    if (controller.signal.aborted) {
      finish = "stopped";
      reply.article.dataset.status = "stopped";
      if (reply.textNode.data === "") reply.article.classList.add("no-text");
      history.push({ role: "assistant", content: reply.textNode.data });
    } else {
      // A failed turn leaves no trace in the conversation: the text goes back into the box.
      reply.article.dataset.status = "error";
      reply.article.remove();
      userBubble.article.remove();
      history.pop();
      if (ui.input.value === "") ui.input.value = text;
      showError(err instanceof Error ? err.message : String(err));
    }
  } finally {
    reply.article.removeAttribute("aria-busy");
    if (state.controller === controller) {
      state.controller = null;
      setGenerating(false);
    }
    const firstMs = firstAt === null ? null : firstAt - started;
    const decodeMs = firstAt === null || lastAt === null ? 0 : lastAt - firstAt;
    if (reply.article.isConnected) ui.stats.textContent = formatStats({ tokens: usageTokens ?? tokens, firstMs, decodeMs, finish });
    ui.input.focus();
  }
}

function stop() {
  if (state.controller !== null) state.controller.abort();
}

function newChat() {
  stop();
  state.history = [];
  for (const m of ui.messages.querySelectorAll(".message")) m.remove();
  ui.emptyHint.hidden = false;
  ui.stats.textContent = "";
  clearError();
  ui.input.focus();
}

// ---------------------------------------------------------------------------------------------
// Wiring

/** Settings kept across visits in localStorage (per server origin); the API key is not one. */
const SAVED_SETTINGS = [ui.system, ui.temperature, ui.topP, ui.maxTokens];

function restoreSettings() {
  try {
    for (const input of SAVED_SETTINGS) {
      const saved = localStorage.getItem(`llama-ts-chat:${input.id}`);
      if (saved !== null) input.value = saved;
      input.addEventListener("change", () => localStorage.setItem(`llama-ts-chat:${input.id}`, input.value));
    }
  } catch {
    // storage disabled: settings last for this visit only
  }
}

function bindSlider(input, output) {
  const show = () => { output.value = input.value; };
  input.addEventListener("input", show);
  show();
}

ui.composer.addEventListener("submit", (e) => { e.preventDefault(); void send(); });
ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    if (!ui.send.disabled) void send();
  }
});
document.addEventListener("keydown", (e) => { if (e.key === "Escape") stop(); });
ui.stop.addEventListener("click", stop);
ui.clear.addEventListener("click", newChat);
ui.apiKey.value = sessionStorage.getItem("llama-ts-api-key") ?? "";
ui.apiKey.addEventListener("change", () => {
  sessionStorage.setItem("llama-ts-api-key", ui.apiKey.value.trim());
  if (state.controller === null) void loadModelName();
});
restoreSettings();
bindSlider(ui.temperature, ui.temperatureValue);
bindSlider(ui.topP, ui.topPValue);
// On a narrow screen the settings start folded so the conversation has the room.
if (window.matchMedia("(max-width: 760px)").matches) /** @type {HTMLDetailsElement} */ ($("settings")).open = false;

await loadModelName();
setGenerating(false);
ui.input.focus();
