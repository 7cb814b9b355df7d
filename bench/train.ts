/**
 * Training speed for the stories15M shape (dim 288, 6 layers, 6 heads, vocab 32000, seq-len
 * 256) on llama-ts's backends and, when Debian's python3-torch is installed, PyTorch CPU with
 * the same model, optimizer and batch, each in its own process (for its peak memory).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");

interface Result { tokens_per_s: number; seconds_per_step: number; peak_rss_mb: number }

function runJson(cmd: string, args: string[], env: Record<string, string> = {}): Result | string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, timeout: 900_000 });
  if (r.status !== 0) return `failed: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`;
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Result;
}

function torchVersion(py: string): string {
  return spawnSync(py, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" }).stdout.trim();
}

export async function bench(): Promise<string> {
  const steps = 3, batch = 4, seq = 256;
  const worker = path.join(here, "train-worker.js");
  const rows: string[] = [];
  const add = (label: string, threads: number, r: Result | string): void => {
    if (typeof r === "string") rows.push(`| ${label} | ${threads} | ${r} | | |`);
    else rows.push(`| ${label} | ${threads} | ${r.tokens_per_s.toFixed(0)} | ${r.seconds_per_step.toFixed(2)} | ${r.peak_rss_mb.toFixed(0)} |`);
  };
  for (const threads of [1, 2]) {
    add("llama-ts (native training kernels)", threads, runJson(process.execPath, [worker, String(steps), String(batch), String(seq)], { LLAMA_TS_THREADS: String(threads) }));
  }
  const torchScript = path.join(root, "tools", "bench_torch_train.py");
  const py = "/usr/bin/python3";
  const hasTorch = existsSync(py) && spawnSync(py, ["-c", "import torch"]).status === 0;
  if (hasTorch) {
    // Debian's torch calls whatever libblas.so.3 the alternatives system selects: the slow
    // reference BLAS by default, OpenBLAS once libopenblas0-pthread is installed. Say which.
    const blas = spawnSync("readlink", ["-f", "/usr/lib/x86_64-linux-gnu/libblas.so.3"], { encoding: "utf8" }).stdout.trim();
    const blasName = blas.includes("openblas") ? "OpenBLAS" : blas ? `reference BLAS (${blas}; apt-get install libopenblas0-pthread for OpenBLAS)` : "unknown BLAS";
    for (const threads of [1, 2]) add(`PyTorch ${torchVersion(py)} CPU (float32, eager, ${blasName})`, threads, runJson(py, [torchScript, String(steps), String(batch), String(seq), String(threads)]));
  } else {
    rows.push("| PyTorch | - | not installed (apt-get install python3-torch) | | |");
  }
  return [
    "## Training: stories15M shape (dim 288, 6 layers, 6 heads, vocab 32000), seq-len 256, batch 4",
    "",
    `Tokens/s over ${steps} optimiser steps after one warm-up step (AdamW + clipping included); each row its own process.`,
    "",
    "| implementation | threads | tokens/s | s/step | peak RSS (MB) |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
