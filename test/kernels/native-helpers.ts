/**
 * Shared by the native kernel tests (native.test.ts; the cases themselves are conformance.ts): the backend or why
 * it is missing, switching ISA and threads, and registering a test per configuration.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadNativeBackend, type Isa, type NativeBackend } from "../../src/kernels/native.js";

const load = loadNativeBackend();
export const native: NativeBackend | undefined = load.backend;
/** The `skip` option of every native test: false, or why the addon is unavailable. */
export const SKIP: string | false = native ? false : `native addon not available: ${load.error}`;
/** The instruction sets this CPU runs (none without the addon). */
export const isas: readonly Isa[] = native ? native.supportedIsas : [];

/** Runs fn with the given ISA and thread count, restoring both afterwards. */
export function withConfig(be: NativeBackend, isa: Isa, threads: number, fn: () => void): void {
  const isa0 = be.isa;
  const threads0 = be.threads;
  be.setIsa(isa);
  be.setThreads(threads);
  try {
    fn();
  } finally {
    be.setIsa(isa0);
    be.setThreads(threads0);
  }
}

/**
 * Registers "<title> (<isa>, <n> thread(s))" for every ISA this CPU has and 1 and 2 threads, each
 * running body(backend, "[isa, nT]") in that configuration. Without the addon the same tests are
 * listed for every ISA, skipped, so a report still shows what did not run.
 */
export function testEveryConfig(title: string, body: (be: NativeBackend, tag: string) => void): void {
  for (const isa of isas.length > 0 ? isas : (["avx512", "avx2", "scalar"] as const)) {
    for (const threads of [1, 2]) {
      test(`${title} (${isa}, ${threads} thread${threads > 1 ? "s" : ""})`, { skip: SKIP }, () => {
        const be = native!;
        withConfig(be, isa, threads, () => {
          assert.equal(be.isa, isa);
          body(be, `[${isa}, ${threads}T]`);
        });
      });
    }
  }
}
