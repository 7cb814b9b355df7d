/** Helpers for the data-pipeline tests: temp folders and a byte-level fake tokenizer. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TokenizerLike } from "../../src/data/types.js";

/** A fresh folder under the OS temp dir; remove it with `cleanup`. */
export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `llama-ts-data-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** ids 3..258 are the UTF-8 bytes, 1 = BOS, 2 = EOS (like LLaMA's byte fallback). */
export class ByteTokenizer implements TokenizerLike {
  readonly vocabSize = 259;
  readonly bosId = 1;
  readonly eosId = 2;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  encode(text: string): number[] {
    return Array.from(this.enc.encode(text), (b) => b + 3);
  }
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i]! >= 3) bytes.push(ids[i]! - 3);
    return this.dec.decode(new Uint8Array(bytes));
  }
}
