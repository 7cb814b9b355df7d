// Builds the WebAssembly kernel module wasm/llama_ts.wasm from the same C sources as the native
// addon (native/kernels.c, train.c, quant.c on the SIMD128 primitives of native/isa_wasm.c, with
// the freestanding runtime of native/wasm/). The .wasm is committed: `npm ci` never runs this, so
// a machine without clang still gets the wasm backend. Rebuild after changing native/*.c:
//
//   node scripts/build-wasm.mjs           # writes wasm/llama_ts.wasm
//   node scripts/build-wasm.mjs --check   # rebuilds into a temporary folder, exit 1 if it differs
//
// Needs clang and wasm-ld with the WebAssembly target (Debian: apt-get install clang-16 lld-16);
// CLANG / WASM_LD pick other binaries. Same compiler version, same bytes: no paths, dates or
// debug info go into the module.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(root, "wasm", "llama_ts.wasm");

/** The C sources, in link order (relative to the repository root). */
export const SOURCES = [
  "native/kernels.c", "native/train.c", "native/quant.c", "native/isa_scalar.c", "native/isa_wasm.c",
  "native/wasm/runtime.c", "native/wasm/libm.c", "native/wasm/api.c",
];

/**
 * Memory layout: 1 MiB stack for the calling thread (workers get theirs from malloc, see
 * src/kernels/wasm.ts), 4 MiB initial memory (INITIAL_PAGES there must match), 4 GiB maximum.
 */
const CFLAGS = [
  "--target=wasm32", "-msimd128", "-matomics", "-mbulk-memory", "-O3", "-std=c11", "-fno-math-errno",
  "-nostdlibinc", "-isystem", "native/wasm/include", "-Wall", "-Wextra", "-Wno-unused-function", "-Werror",
];
const LDFLAGS = [
  "--no-entry", "--import-memory", "--shared-memory", "--max-memory=4294967296", "--initial-memory=4194304",
  "-z", "stack-size=1048576",
  "--export=__stack_pointer", "--export=__wasm_init_tls", "--export=__tls_size", "--export=__tls_align",
];

function find(envName, names) {
  const forced = process.env[envName];
  if (forced) return forced;
  for (const n of names) {
    const r = spawnSync(n, ["--version"], { encoding: "utf8" });
    if (r.status === 0) return n;
  }
  throw new Error(`none of ${names.join(", ")} found (set ${envName}); Debian: apt-get install clang-16 lld-16`);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8" });
  if (r.status !== 0) {
    process.stderr.write(r.stderr || r.stdout || `${cmd} failed\n`);
    process.exit(1);
  }
}

/** Compiles and links into `out`. */
function build(out) {
  const clang = find("CLANG", ["clang-16", "clang"]);
  const wasmLd = find("WASM_LD", ["wasm-ld-16", "wasm-ld"]);
  const tmp = mkdtempSync(path.join(tmpdir(), "llama-ts-wasm-"));
  try {
    const objs = SOURCES.map((src, i) => {
      const obj = path.join(tmp, `${i}-${path.basename(src, ".c")}.o`);
      run(clang, [...CFLAGS, "-c", src, "-o", obj]);
      return obj;
    });
    mkdirSync(path.dirname(out), { recursive: true });
    run(wasmLd, [...LDFLAGS, ...objs, "-o", out]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(path.join(tmpdir(), "llama-ts-wasm-check-"));
  try {
    const out = path.join(tmp, "llama_ts.wasm");
    build(out);
    const same = existsSync(OUT) && Buffer.compare(readFileSync(out), readFileSync(OUT)) === 0;
    console.log(same ? "wasm/llama_ts.wasm is up to date" : "wasm/llama_ts.wasm differs from a fresh build: run node scripts/build-wasm.mjs");
    process.exit(same ? 0 : 1);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  build(OUT);
  console.log(`wrote wasm/llama_ts.wasm (${readFileSync(OUT).length} bytes)`);
}
