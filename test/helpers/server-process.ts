/**
 * Runs a long-lived CLI server (`llama-ts serve`, later `llama-ts web`) for a test: spawns
 * `node dist/src/cli/main.js ARGS`, waits until a stdout line contains
 * `listening on http://HOST:PORT`, and resolves to that URL. The process is killed by
 * `stop()`; if it exits before it listens, or does not listen within the timeout, the
 * promise rejects with its exit status and stderr, so a failing start is easy to read.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { repoRoot } from "../helpers.js";

export const cliPath = path.join(repoRoot, "dist", "src", "cli", "main.js");

export interface RunningServer {
  /** e.g. http://127.0.0.1:40123 (no trailing slash). */
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr: () => string;
  stop: () => Promise<void>;
}

export function spawnServer(args: string[], timeoutMs = 60_000): Promise<RunningServer> {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => { stderr += s; });
  const stop = (): Promise<void> => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => { if (child.exitCode === null) child.kill("SIGKILL"); }, 5_000).unref();
  });
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      void stop();
      reject(new Error(`${path.basename(cliPath)} ${args.join(" ")}: ${why}\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    const timer = setTimeout(() => fail(`no "listening on" line within ${timeoutMs} ms`), timeoutMs);
    child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
      const m = /listening on (http:\/\/[^\s/]+)/.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, stderr: () => stderr, stop });
      }
    });
    child.once("exit", (code, signal) => fail(`exited (code ${code}, signal ${signal}) before listening`));
  });
}
