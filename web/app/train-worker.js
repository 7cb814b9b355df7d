// The training loop of the page's "train a model" panel (train.js), in a module Web Worker so
// that tokenizer training and the steps never block the page. Plain ES module, no build step.
// Protocol (structured-clone messages):
//   page -> worker  {type: "start", text, options, prompt, sampleEvery, backend}
//                   {type: "prompt", prompt}   the samples' prompt changed
//                   {type: "stop"}             finish after the current step
//   worker -> page  {type: "status", text}
//                   {type: "training", params, tokens, backend}
//                   {type: "step", step, loss, tokensPerS}
//                   {type: "sample", step, text}
//                   {type: "done", losses, gguf (ArrayBuffer, transferred), steps, stopped}
//                   {type: "error", message}
let stop = false;
let prompt = "The";

/** Lets this worker take the page's messages (stop, prompt) between steps. */
const yieldToMessages = () => new Promise((r) => setTimeout(r, 0));

async function run(m) {
  stop = false;
  prompt = m.prompt || "The";
  const lib = await import("/dist/llama-ts.js");
  // a worker chooses its own kernels (WebAssembly with threads when the page is cross-origin isolated)
  const backend = await lib.initBackend({ backend: m.backend });
  postMessage({ type: "status", text: `training a ${m.options.vocabSize}-piece tokenizer on ${m.text.length} characters…` });
  const trainer = new lib.TextTrainer(m.text, m.options);
  postMessage({ type: "training", params: lib.parameterCount(trainer.config), tokens: trainer.tokens.length, backend: backend.name });
  while (trainer.step < m.options.steps && !stop) {
    const log = trainer.trainStep();
    const s = log.step + 1;
    postMessage({ type: "step", step: s, loss: log.loss, tokensPerS: log.tokens_per_s });
    if (s % m.sampleEvery === 0 || s === m.options.steps) {
      postMessage({ type: "sample", step: s, text: trainer.sample(prompt, { maxTokens: 40, seed: s }) });
    }
    await yieldToMessages();
  }
  const bytes = trainer.gguf(`llama-ts tiny (${m.book}, ${trainer.step} steps in the browser)`);
  const gguf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  postMessage({ type: "done", losses: trainer.losses, gguf, steps: trainer.step, stopped: stop }, [gguf]);
}

onmessage = (e) => {
  const m = e.data;
  if (m.type === "stop") stop = true;
  else if (m.type === "prompt") prompt = m.prompt || "The";
  else if (m.type === "start") {
    run(m).catch((err) => postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) }));
  }
};
