// The "train a model" half of the llama-ts page (section#train in index.html). Plain ES module,
// no build step: it imports the library bundle and uses its public API (TextTrainer).
// It fetches a bundled public-domain book from /corpus/ (served by `llama-ts web`), trains a
// SentencePiece BPE tokenizer and a tiny LLaMA on it in this tab, draws the loss curve, shows a
// sample every few steps, and offers the model as a .gguf download. The tokenizer and the steps
// run in a Web Worker (train-worker.js), so the page stays responsive while it trains.
// Contract for test/browser/train-page.test.ts: section#train[data-state] is
// idle | preparing | training | done | stopped | error; when a run ends, data-losses holds
// every step's loss (comma-separated, full precision) and a#train-download the GGUF.
const lib = await import("/dist/llama-ts.js");

const BOOKS = [
  ["carroll-alice.txt", "Alice's Adventures in Wonderland (Carroll)"],
  ["austen-persuasion.txt", "Persuasion (Austen)"],
  ["shakespeare-hamlet.txt", "Hamlet (Shakespeare)"],
  ["chesterton-thursday.txt", "The Man Who Was Thursday (Chesterton)"],
  ["melville-moby_dick.txt", "Moby Dick (Melville)"],
];
const D = lib.TINY_DEFAULTS;
const FIELDS = [
  // [id, label, default, min, max, step]
  ["chars", "characters of text", 150000, 1000, 2000000, 1000],
  ["vocab", "vocabulary", D.vocabSize, 300, 4096, 1],
  ["dim", "dim", D.hiddenSize, 8, 512, 8],
  ["layers", "layers", D.layers, 1, 12, 1],
  ["heads", "heads", D.heads, 1, 16, 1],
  ["batch", "batch", D.batch, 1, 64, 1],
  ["seq", "sequence length", D.seqLen, 8, 256, 8],
  ["steps", "steps", D.steps, 1, 100000, 1],
  ["lr", "learning rate", D.lr, 0.00001, 0.1, 0.0001],
  ["warmup", "warm-up steps", D.warmup, 0, 10000, 1],
  ["seed", "seed", D.seed, 0, 2 ** 31, 1],
];

const section = document.getElementById("train");
section.setAttribute("aria-labelledby", "train-title");
section.innerHTML = `
  <h2 id="train-title">Train a model in this tab</h2>
  <p class="subtle">A tiny LLaMA and its SentencePiece tokenizer, trained here on a public-domain book
    (the text <code>npm start</code> uses), with the paper's recipe (AdamW, warm-up + cosine, clipping).
    Nothing is sent anywhere; the result downloads as a <code>.gguf</code> that <code>llama-ts generate</code> and llama.cpp run.</p>
  <div class="row">
    <label>Text <select id="train-book">${BOOKS.map(([f, t]) => `<option value="${f}">${t}</option>`).join("")}</select></label>
    <label>Prompt for samples <input id="train-prompt" value="Alice was"></label>
  </div>
  <details><summary>Model and run</summary><div class="row">
    ${FIELDS.map(([id, label, v, min, max, step]) => `<label>${label} <input type="number" id="train-${id}" value="${v}" min="${min}" max="${max}" step="${step}"></label>`).join("")}
  </div></details>
  <div class="row">
    <button type="button" id="train-start" class="primary">Start training</button>
    <button type="button" id="train-stop" disabled>Stop</button>
    <a id="train-download" hidden>Download .gguf</a>
    <span id="train-status" class="subtle" aria-live="polite"></span>
  </div>
  <svg id="train-curve" viewBox="0 0 600 200" role="img" aria-label="training loss by step" style="width:100%;height:200px;border:1px solid var(--border);border-radius:6px">
    <polyline id="train-line" fill="none" stroke="var(--accent)" stroke-width="1.5" points=""></polyline>
    <text id="train-ymax" x="4" y="14" font-size="11" fill="currentColor"></text>
    <text id="train-ymin" x="4" y="194" font-size="11" fill="currentColor"></text>
  </svg>
  <div id="train-error" role="alert" hidden></div>
  <ol id="train-samples" reversed></ol>`;

const $ = (id) => document.getElementById(id);
let downloadUrl;

function setState(s) {
  section.dataset.state = s;
  const busy = s === "preparing" || s === "training";
  $("train-start").disabled = busy;
  $("train-stop").disabled = !busy;
}
setState("idle");

function readOptions() {
  const n = (id) => {
    const el = $(`train-${id}`);
    const v = Number(el.value);
    if (!Number.isFinite(v) || v < Number(el.min) || v > Number(el.max)) throw new Error(`${el.parentElement.textContent.trim()}: ${el.value} is not between ${el.min} and ${el.max}`);
    return v;
  };
  return {
    chars: n("chars"),
    options: {
      vocabSize: n("vocab"), hiddenSize: n("dim"), layers: n("layers"), heads: n("heads"), batch: n("batch"),
      seqLen: n("seq"), steps: n("steps"), lr: n("lr"), warmup: n("warmup"), seed: n("seed"),
    },
  };
}

function drawCurve(losses) {
  if (losses.length === 0) return;
  const max = Math.max(...losses);
  const min = Math.min(...losses);
  const span = Math.max(max - min, 1e-6);
  const W = 600, H = 200, pad = 20;
  const x = (i) => (losses.length === 1 ? W / 2 : (i / (losses.length - 1)) * (W - 2 * pad) + pad);
  const y = (l) => H - pad - ((l - min) / span) * (H - 2 * pad);
  $("train-line").setAttribute("points", losses.map((l, i) => `${x(i).toFixed(1)},${y(l).toFixed(1)}`).join(" "));
  $("train-ymax").textContent = `loss ${max.toFixed(3)}`;
  $("train-ymin").textContent = `${min.toFixed(3)} (step ${losses.length})`;
}

function addSample(step, text) {
  const li = document.createElement("li");
  li.textContent = `step ${step}: ${text}`;
  $("train-samples").prepend(li);
}

// The steps run in a Web Worker (train-worker.js); this thread only draws.
let worker;

async function run() {
  $("train-error").hidden = true;
  $("train-samples").textContent = "";
  $("train-download").hidden = true;
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  delete section.dataset.losses;
  setState("preparing");
  const fail = (message) => {
    $("train-error").textContent = message;
    $("train-error").hidden = false;
    console.error(message);
    setState("error");
    worker?.terminate();
    worker = undefined;
  };
  try {
    const { chars, options } = readOptions();
    const book = $("train-book").value;
    $("train-status").textContent = `fetching ${book}…`;
    const res = await fetch(`/corpus/${encodeURIComponent(book)}`);
    if (!res.ok) throw new Error(`/corpus/${book}: HTTP ${res.status} (is this page served by \`llama-ts web\`?)`);
    const text = (await res.text()).slice(0, chars);
    const sampleEvery = Math.max(10, Math.round(options.steps / 10));
    const losses = [];
    let t0 = performance.now();
    let about = "";
    worker?.terminate();
    worker = new Worker(new URL("./train-worker.js", import.meta.url), { type: "module" });
    worker.onerror = (e) => fail(`training worker: ${e.message || "failed to start"}`);
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === "status") $("train-status").textContent = m.text;
      else if (m.type === "training") {
        about = `${(m.params / 1e3).toFixed(0)}K parameters, ${m.tokens} training tokens, backend ${m.backend} (in a Web Worker)`;
        t0 = performance.now();
        setState("training");
      } else if (m.type === "step") {
        losses.push(m.loss);
        drawCurve(losses);
        $("train-status").textContent = `step ${m.step}/${options.steps} · loss ${m.loss.toFixed(3)} · ${Math.round(m.tokensPerS)} tokens/s · ${about}`;
      } else if (m.type === "sample") addSample(m.step, m.text);
      else if (m.type === "done") {
        section.dataset.losses = m.losses.map(String).join(",");
        downloadUrl = URL.createObjectURL(new Blob([m.gguf], { type: "application/octet-stream" }));
        const a = $("train-download");
        a.href = downloadUrl;
        a.download = `tiny-${book.replace(/\.txt$/, "")}-${m.steps}.gguf`;
        a.textContent = `Download .gguf (${(m.gguf.byteLength / 1e6).toFixed(2)} MB)`;
        a.hidden = false;
        $("train-status").textContent += ` · ${((performance.now() - t0) / 1000).toFixed(1)} s`;
        setState(m.stopped ? "stopped" : "done");
        worker.terminate();
        worker = undefined;
      } else if (m.type === "error") fail(m.message);
    };
    const backend = new URLSearchParams(location.search).get("backend") ?? "auto";
    worker.postMessage({ type: "start", text, options, book, prompt: $("train-prompt").value, sampleEvery, backend });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

$("train-prompt").addEventListener("input", () => worker?.postMessage({ type: "prompt", prompt: $("train-prompt").value }));
$("train-start").addEventListener("click", () => void run());
$("train-stop").addEventListener("click", () => worker?.postMessage({ type: "stop" }));
