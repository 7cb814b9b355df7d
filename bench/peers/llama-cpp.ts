/**
 * llama.cpp as a peer, through the npm package `node-llama-cpp` (pinned version), installed on
 * demand into a git-ignored cache folder (`.bench/node-llama-cpp/` at the repository root), never
 * into the project's own dependencies.
 *
 *   node dist/bench/peers/llama-cpp.js install     # installs it (npm, ~85 MB, CPU binary only)
 *   node dist/bench/peers/llama-cpp.js status      # says whether it is installed
 *
 * The install takes `node-llama-cpp` and only its prebuilt CPU binary package for this platform
 * (`@node-llama-cpp/linux-x64`; the CUDA/Vulkan variants are optional dependencies and are
 * omitted), with NODE_LLAMA_CPP_SKIP_DOWNLOAD=true so that its postinstall never downloads or
 * builds llama.cpp. At run time `getLlama` is called with `build: "never"` and `gpu: false`:
 * if the prebuilt binary does not load, we fail instead of compiling.
 *
 * Loading uses settings that make llama.cpp comparable with an f32 reference (see DESIGN.md,
 * "Testing notes"): flash attention off, F32 KV cache, exact thread counts (`maxThreads: 0` so
 * that the Llama instance does not cap them, and `threads: { ideal: n, min: n }` per context).
 *
 * The package's types are not available when it is not installed, so this file declares the
 * small part of its API that it uses.
 */
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

export const NODE_LLAMA_CPP_VERSION = "3.21.1";

/** The repository root: the nearest folder above this file whose package.json is llama-ts's. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, "package.json");
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, "utf8")) as { name?: string }).name === "llama-ts") return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error("cannot find the llama-ts repository root above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The cache folder (override with LLAMA_TS_PEER_DIR). */
export function peerDir(): string {
  return process.env.LLAMA_TS_PEER_DIR ?? path.join(repoRoot(), ".bench", "node-llama-cpp");
}

/** The prebuilt-binary package for this platform, as node-llama-cpp names them. */
function binaryPackage(): string | undefined {
  const arch = process.arch;
  if (process.platform === "linux" && (arch === "x64" || arch === "arm64")) return `@node-llama-cpp/linux-${arch}`;
  if (process.platform === "darwin") return arch === "arm64" ? "@node-llama-cpp/mac-arm64-metal" : "@node-llama-cpp/mac-x64";
  if (process.platform === "win32" && (arch === "x64" || arch === "arm64")) return `@node-llama-cpp/win-${arch}`;
  return undefined;
}

export const INSTALL_HINT = "npm run build && node dist/bench/peers/llama-cpp.js install";

export type PeerStatus = { installed: true; dir: string; version: string } | { installed: false; dir: string; reason: string };

/** Whether node-llama-cpp (the pinned version and its binary package) is in the cache folder. Never installs. */
export function peerStatus(): PeerStatus {
  const dir = peerDir();
  const pj = path.join(dir, "node_modules", "node-llama-cpp", "package.json");
  if (!fs.existsSync(pj)) return { installed: false, dir, reason: `node-llama-cpp is not installed in ${dir} (install it with: ${INSTALL_HINT})` };
  const version = (JSON.parse(fs.readFileSync(pj, "utf8")) as { version?: string }).version ?? "?";
  if (version !== NODE_LLAMA_CPP_VERSION) {
    return { installed: false, dir, reason: `${dir} holds node-llama-cpp ${version}, not ${NODE_LLAMA_CPP_VERSION} (reinstall with: ${INSTALL_HINT})` };
  }
  const bin = binaryPackage();
  if (!bin || !fs.existsSync(path.join(dir, "node_modules", ...bin.split("/"), "package.json"))) {
    return { installed: false, dir, reason: `node-llama-cpp's prebuilt binary package ${bin ?? `(none for ${process.platform}-${process.arch})`} is missing in ${dir}` };
  }
  return { installed: true, dir, version };
}

/**
 * Installs node-llama-cpp@NODE_LLAMA_CPP_VERSION and its prebuilt CPU binary into peerDir()
 * with npm (`--no-save`: the folder's package.json stays an empty stub). Nothing else is
 * downloaded: its postinstall is told to skip downloads/builds.
 */
export function installPeer(log: (line: string) => void = (l) => process.stderr.write(l + "\n")): PeerStatus {
  const dir = peerDir();
  const bin = binaryPackage();
  if (!bin) throw new Error(`node-llama-cpp has no prebuilt binary for ${process.platform}-${process.arch}`);
  fs.mkdirSync(dir, { recursive: true });
  const pj = path.join(dir, "package.json");
  if (!fs.existsSync(pj)) fs.writeFileSync(pj, JSON.stringify({ name: "llama-ts-peer-node-llama-cpp", private: true, description: "cache folder for the llama.cpp peer (bench/peers/llama-cpp.ts); not a dependency of llama-ts" }, null, 2) + "\n");
  const args = [
    "install", "--no-save", "--omit=optional", "--no-audit", "--no-fund", "--prefix", dir,
    `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`, `${bin}@${NODE_LLAMA_CPP_VERSION}`,
  ];
  log(`npm ${args.join(" ")}   (NODE_LLAMA_CPP_SKIP_DOWNLOAD=true)`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, args, { cwd: dir, stdio: "inherit", env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" } });
  if (r.status !== 0) throw new Error(`npm install into ${dir} failed (exit ${r.status ?? r.signal})`);
  const s = peerStatus();
  if (!s.installed) throw new Error(s.reason);
  return s;
}

// ---- the part of node-llama-cpp's API we use ----

type Token = number;
interface NlcSequence {
  evaluate(tokens: Token[], options?: { temperature?: number }): AsyncGenerator<Token, void, void | Token | Token[]>;
  evaluateWithoutGeneratingNewTokens(tokens: Token[]): Promise<void>;
  controlledEvaluate(input: Array<Token | [Token, { generateNext?: { probabilities?: boolean; token?: boolean } }]>): Promise<Array<undefined | { next: { token?: Token | null; probabilities?: Map<Token, number> } }>>;
  clearHistory(): Promise<void>;
  dispose(): void;
}
interface NlcContext {
  getSequence(): NlcSequence;
  dispose(): Promise<void>;
  printTimings(): Promise<void>;
  readonly currentThreads: number;
}
interface NlcModel {
  tokenize(text: string, specialTokens?: boolean): Token[];
  createContext(options: Record<string, unknown>): Promise<NlcContext>;
  dispose(): Promise<void>;
}
interface NlcLlama {
  loadModel(options: { modelPath: string; gpuLayers?: number; useMmap?: boolean }): Promise<NlcModel>;
  dispose(): Promise<void>;
  readonly buildType: string;
  readonly gpu: unknown;
  readonly cpuMathCores?: number;
  logLevel: unknown;
}
interface NlcModule {
  getLlama(options: Record<string, unknown>): Promise<NlcLlama>;
  LlamaLogLevel: Record<string, unknown>;
}

/** One loaded GGUF file in llama.cpp, with one context of fixed size and thread count. */
export interface LlamaCppSession {
  readonly threads: number;
  /** llama.cpp's tokenisation of `text` (no BOS added). */
  tokenize(text: string): number[];
  /** Greedy continuation of `prompt` (which should start with BOS), `n` new tokens; clears the history first. */
  greedy(prompt: number[], n: number): Promise<number[]>;
  /** Next-token probabilities after each prompt position (full vocabulary); clears the history first. */
  nextTokenProbs(prompt: number[]): Promise<Array<Map<number, number>>>;
  /** Evaluates `tokens` from an empty history without sampling (a prefill). */
  prefill(tokens: number[]): Promise<void>;
  /**
   * llama.cpp's own timings of the calls since the last reset (llama_perf_context), parsed from
   * printTimings: prompt-eval and eval milliseconds and token counts.
   */
  perf(): Promise<{ promptMs: number; promptTokens: number; evalMs: number; evalTokens: number } | undefined>;
  dispose(): Promise<void>;
}

export interface LlamaCppPeer {
  readonly version: string;
  open(modelPath: string, opts: { threads: number; contextSize: number; batchSize?: number }): Promise<LlamaCppSession>;
  /** Warnings and errors llama.cpp logged since the last call (and clears them). */
  warnings(): string[];
  dispose(): Promise<void>;
}

/** Loads node-llama-cpp from the cache folder (throws with the install hint when it is not there). */
export async function openLlamaCpp(): Promise<LlamaCppPeer> {
  const st = peerStatus();
  if (!st.installed) throw new Error(st.reason);
  const entry = path.join(st.dir, "node_modules", "node-llama-cpp", "dist", "index.js");
  const mod = (await import(pathToFileURL(entry).href)) as NlcModule;
  // Log lines from llama.cpp go to our logger; the timing report is parsed from them.
  let capture: string[] | undefined;
  const logs: string[] = [];
  const llama = await mod.getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    maxThreads: 0,
    logLevel: mod.LlamaLogLevel.info,
    logger: (level: unknown, message: string) => {
      if (capture) capture.push(message);
      else if (level === mod.LlamaLogLevel.warn || level === mod.LlamaLogLevel.error) logs.push(message.trim());
    },
  });

  const open = async (modelPath: string, o: { threads: number; contextSize: number; batchSize?: number }): Promise<LlamaCppSession> => {
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const context = await model.createContext({
      contextSize: o.contextSize,
      batchSize: o.batchSize ?? Math.min(o.contextSize, 512),
      sequences: 1,
      flashAttention: false,
      threads: { ideal: o.threads, min: o.threads },
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
      performanceTracking: true,
    });
    const seq = context.getSequence();
    return {
      threads: context.currentThreads,
      tokenize: (text) => model.tokenize(text, false),
      async greedy(prompt, n) {
        await seq.clearHistory();
        const out: number[] = [];
        if (n <= 0) return out;
        for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
          out.push(t);
          if (out.length >= n) break;
        }
        return out;
      },
      async nextTokenProbs(prompt) {
        await seq.clearHistory();
        const res = await seq.controlledEvaluate(prompt.map((t) => [t, { generateNext: { probabilities: true } }] as [number, { generateNext: { probabilities: boolean } }]));
        return prompt.map((_, i) => {
          const p = res[i]?.next.probabilities;
          if (!p) throw new Error(`llama.cpp returned no probabilities at position ${i}`);
          return p;
        });
      },
      async prefill(tokens) {
        await seq.clearHistory();
        await seq.evaluateWithoutGeneratingNewTokens(tokens);
      },
      async perf() {
        capture = [];
        let text: string;
        try {
          await context.printTimings();
        } finally {
          text = capture.join("\n");
          capture = undefined;
        }
        const num = (re: RegExp): [number, number] | undefined => {
          const m = re.exec(text);
          return m ? [Number(m[1]), Number(m[2])] : undefined;
        };
        const p = num(/prompt eval time\s*=\s*([\d.]+)\s*ms\s*\/\s*(\d+)\s*tokens/);
        const e = num(/(?:^|\n)[^\n]*?(?<!prompt )eval time\s*=\s*([\d.]+)\s*ms\s*\/\s*(\d+)\s*runs/);
        return p && e ? { promptMs: p[0], promptTokens: p[1], evalMs: e[0], evalTokens: e[1] } : undefined;
      },
      async dispose() {
        seq.dispose();
        await context.dispose();
        await model.dispose();
      },
    };
  };
  return { version: st.version, open, warnings: () => logs.splice(0), dispose: () => llama.dispose() };
}

// ---- command line ----

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2] ?? "status";
  if (cmd === "install") {
    const s = installPeer();
    process.stdout.write(`node-llama-cpp ${s.installed ? s.version : "?"} installed in ${s.dir}\n`);
  } else if (cmd === "status") {
    const s = peerStatus();
    process.stdout.write(s.installed ? `node-llama-cpp ${s.version} is installed in ${s.dir}\n` : s.reason + "\n");
    process.exitCode = s.installed ? 0 : 1;
  } else {
    process.stderr.write("usage: node dist/bench/peers/llama-cpp.js install|status\n");
    process.exitCode = 2;
  }
}
