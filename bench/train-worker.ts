/**
 * One training-speed measurement in its own process (so peak memory is this run's alone):
 * `node dist/bench/train-worker.js STEPS BATCH SEQ` prints {"tokens_per_s", "peak_rss_mb", ...}.
 */
import { presetConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { Trainer, PAPER_DEFAULTS, type WindowSource } from "../src/train/trainer.js";
import { getBackend } from "../src/kernels/backend.js";

const [steps = 3, batch = 4, seqLen = 256] = process.argv.slice(2).map(Number);
const config = presetConfig("stories15M");
const params = initParams(config, 1);
let x = 12345;
const source: WindowSource = {
  description: "random tokens",
  fill(out) {
    for (let i = 0; i < out.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      out[i] = x % config.vocabSize;
    }
  },
};
const trainer = new Trainer(config, params, {
  ...PAPER_DEFAULTS, batch, seqLen, gradAccum: 1, lr: 1e-3, warmup: 10, totalSteps: 100, seed: 0,
}, source);
trainer.step(); // warm-up: V8 tiers, thread pool
const t0 = performance.now();
for (let i = 0; i < steps; i++) trainer.step();
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({
  backend: getBackend().name,
  threads: getBackend().threads,
  tokens_per_s: (steps * batch * seqLen) / seconds,
  seconds_per_step: seconds / steps,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
}) + "\n");
