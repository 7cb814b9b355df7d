/**
 * The Node-free training pieces: windows drawn from tokens in memory are the windows a raw
 * token file of the same tokens gives (data/sampler.ts), in both orders and across epochs,
 * and the cursor the Node sampler records.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { tokenArrayWindows } from "../../src/train/loop.js";
import { TokenFileSampler } from "../../src/data/sampler.js";

test("tokenArrayWindows draws the windows of a token file of the same tokens (sequential and shuffled, several epochs)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-loop-"));
  try {
    const tokens = new Uint16Array(1003).map((_, i) => (i * 7919) % 50021 % 65536);
    const file = path.join(dir, "tokens.bin");
    fs.writeFileSync(file, tokens);
    const T = 16;
    for (const order of ["sequential", "shuffled"] as const) {
      const sampler = new TokenFileSampler(file, { seqLen: T, order, seed: 5 });
      const source = tokenArrayWindows(tokens, { seqLen: T, order, seed: 5 });
      const rows = 4;
      const want = new Int32Array(rows * (T + 1));
      const got = new Int32Array(rows * (T + 1));
      for (let b = 0; b < 40; b++) { // 160 windows: 2.5 epochs of 62
        sampler.nextBatch(rows, want);
        source.fill(got, b * rows, rows, T);
        assert.deepEqual(got, want, `${order}, batch ${b}`);
      }
      assert.deepEqual(source.cursor!(), sampler.state());
      sampler.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
