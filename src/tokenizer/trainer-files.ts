/**
 * SentencePiece BPE training from text files (the Node side of tokenizer/trainer.ts, which
 * has no Node built-ins): each file is read in 8 MiB pieces and added as its complete lines,
 * so files of any size train in bounded memory; progress on stderr when asked.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { createProgress } from "../util/progress.js";
import { BpeTrainer, type BpeTrainerOptions, type TrainStats } from "./trainer.js";
import type { ModelProto } from "./model-proto.js";

/** Reads a UTF-8 text file line by line into the trainer; `onBytes` after each piece. */
export function addTextFile(trainer: BpeTrainer, path: string, onBytes?: (bytes: number) => void): void {
  const fd = openSync(path, "r");
  try {
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    const chunk = Buffer.allocUnsafe(8 << 20);
    let carry = "";
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      const text = carry + (n > 0 ? decoder.decode(chunk.subarray(0, n), { stream: true }) : decoder.decode());
      const lastNl = text.lastIndexOf("\n");
      if (lastNl >= 0) trainer.addText(text.slice(0, lastNl + 1));
      carry = text.slice(lastNl + 1);
      if (onBytes && n > 0) onBytes(n);
      if (n === 0) break;
    }
    if (carry.length > 0) trainer.addText(carry);
  } finally {
    closeSync(fd);
  }
}

/** Trains from text files (one sentence per line), with a progress display when asked. */
export function trainBpeFromFiles(files: readonly string[], options: BpeTrainerOptions): { model: ModelProto; stats: TrainStats } {
  const trainer = new BpeTrainer({ ...options, input: options.input ?? [...files] });
  const totalBytes = files.reduce((s, f) => s + statSync(f).size, 0);
  const reading = createProgress("reading corpus", Math.max(1, Math.round(totalBytes / 1e6)), { silent: !trainer.options.progress, unit: "MB" });
  let done = 0;
  for (const f of files) {
    addTextFile(trainer, f, (n) => {
      done += n;
      reading.update(Math.round(done / 1e6));
    });
  }
  reading.update(Math.max(1, Math.round(totalBytes / 1e6)));
  reading.stop();
  return trainer.train(createProgress);
}
