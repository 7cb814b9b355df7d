// The "run a model" half of the llama-ts page (see index.html). Plain ES module, no build step:
// it imports the library bundle as is and uses its public API only (loadModel, GenerationSession).
const lib = await import("/dist/llama-ts.js");

const $ = (id) => document.getElementById(id);
const ui = {
  backend: $("backend"), isolation: $("isolation"), drop: $("drop"), file: $("file"), folder: $("folder"),
  info: $("model-info"), progress: $("load-progress"), form: $("prompt-form"), prompt: $("prompt"),
  maxTokens: $("max-tokens"), temperature: $("temperature"), seed: $("seed"), generate: $("generate"),
  stop: $("stop"), error: $("error"), output: $("output"), stats: $("stats"),
};

/** The loaded model and its session; `window.llamaTs` lets other panels (and tests) reach them. */
const state = { lm: undefined, session: undefined, abort: undefined };
window.llamaTs = { lib, get lm() { return state.lm; }, get session() { return state.session; } };

function setState(s) {
  document.body.dataset.state = s;
  const busy = s === "loading" || s === "generating";
  ui.generate.disabled = busy || !state.lm?.tokenizer;
  ui.stop.disabled = s !== "generating";
  ui.file.disabled = ui.folder.disabled = busy;
}

function showError(err) {
  ui.error.textContent = err instanceof Error ? err.message : String(err);
  ui.error.hidden = false;
  console.error(err);
}

function describe(lm) {
  const c = lm.config;
  const params = lib.parameterCount(c);
  const size = params >= 1e9 ? `${(params / 1e9).toFixed(2)}B` : params >= 1e6 ? `${(params / 1e6).toFixed(1)}M` : `${(params / 1e3).toFixed(0)}K`;
  const tok = lm.tokenizer ? `vocabulary ${lm.tokenizer.vocabSize}` : "no tokenizer (cannot take text prompts)";
  return `${lm.name} (${lm.format}): ${size} parameters, ${c.numHiddenLayers} layers, dim ${c.hiddenSize}, context ${c.maxPositionEmbeddings}, ${tok}`;
}

async function load(source, label) {
  ui.error.hidden = true;
  setState("loading");
  ui.info.textContent = `Loading ${label}…`;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  try {
    if (state.session) await state.session.close();
    state.lm = state.session = undefined;
    const t0 = performance.now();
    const lm = await lib.loadModel(source, {
      onProgress: (loaded, total) => {
        if (total > 0) ui.progress.value = loaded / total;
      },
    });
    state.lm = lm;
    state.session = new lib.GenerationSession(lm, { parallel: 1 });
    ui.info.textContent = `${describe(lm)} · loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    setState("ready");
  } catch (err) {
    ui.info.textContent = "No model loaded.";
    showError(err);
    setState("error");
  } finally {
    ui.progress.hidden = true;
  }
}

async function generate() {
  const { session } = state;
  if (!session) return;
  ui.error.hidden = true;
  ui.output.textContent = "";
  ui.stats.textContent = "";
  delete ui.output.dataset.tokens;
  state.abort = new AbortController();
  setState("generating");
  const opts = {
    maxTokens: Number(ui.maxTokens.value),
    temperature: Number(ui.temperature.value),
    seed: Number(ui.seed.value),
    signal: state.abort.signal,
  };
  const tokens = [];
  try {
    let result;
    for await (const chunk of session.stream(ui.prompt.value, opts)) {
      tokens.push(...chunk.tokens);
      ui.output.textContent += chunk.text;
      if (chunk.result) result = chunk.result;
    }
    if (result) {
      const t = result.timings;
      const tps = Number.isFinite(t.decodeTokensPerSecond) ? `${t.decodeTokensPerSecond.toFixed(1)} tokens/s` : "– tokens/s";
      ui.stats.textContent = `${result.tokens.length} tokens · ${tps} · prompt ${result.promptTokens.length} tokens in ${t.prefillMs.toFixed(0)} ms · stop: ${result.stopReason} · backend ${lib.getBackend().name}`;
      ui.output.dataset.tokens = result.tokens.join(",");
    }
    setState("ready");
  } catch (err) {
    showError(err);
    setState("ready");
  } finally {
    state.abort = undefined;
  }
}

function filesLabel(files) {
  return files.length === 1 ? files[0].name : `${files.length} files`;
}

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  void generate();
});
ui.stop.addEventListener("click", () => state.abort?.abort());
for (const input of [ui.file, ui.folder]) {
  input.addEventListener("change", () => {
    const files = [...input.files];
    if (files.length > 0) void load(files.length === 1 ? files[0] : files, filesLabel(files));
    input.value = "";
  });
}
ui.drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  ui.drop.classList.add("over");
});
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
ui.drop.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.drop.classList.remove("over");
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length > 0) void load(files.length === 1 ? files[0] : files, filesLabel(files));
});

// ?backend=reference|wasm|auto picks the kernels (default auto: WebAssembly, else the references).
const backend = await lib.initBackend({ backend: new URLSearchParams(location.search).get("backend") ?? "auto" });
ui.backend.textContent = `${backend.name}${backend.threads > 1 ? ` (${backend.threads} threads)` : ""}`;
ui.isolation.textContent = lib.canUseThreads() ? "yes (cross-origin isolated)" : "no (not cross-origin isolated)";
// Only now, with every listener attached, does the page say it takes a file (index.html starts
// at "starting").
setState("no-model");
const config = await fetch("/app-config.json").then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
if (config.model) await load(config.model, decodeURIComponent(config.model.split("/").pop()));
