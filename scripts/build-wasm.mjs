// Builds the WebAssembly kernel modules from the same C sources as the native addon (native/kernels.c, train.c, quant.c on the SIMD128 primitives of native/isa_wasm.c, with
// the freestanding runtime of native/wasm/): wasm/llama_ts.wasm (threads: shared memory,
// atomics) and wasm/llama_ts_st.wasm (one thread, unshared memory: for a browser page that is not
// cross-origin isolated, where shared memory does not exist). The .wasm files are committed: `npm ci` never runs this, so
// a machine without clang still gets the wasm backend. Rebuild after changing native/*.c:
//
//   node scripts/build-wasm.mjs           # writes wasm/llama_ts.wasm and wasm/llama_ts_st.wasm
//   node scripts/build-wasm.mjs --check   # rebuilds into a temporary folder, exit 1 if one differs
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
/** The two builds: name -> threaded (shared memory + atomics) or not. */
const VARIANTS = { "llama_ts.wasm": true, "llama_ts_st.wasm": false };

/** The C sources, in link order (relative to the repository root). */
export const SOURCES = [
  "native/kernels.c", "native/train.c", "native/quant.c", "native/quant_k8.c", "native/quant_k8_wasm.c", "native/quant_bf16.c", "native/isa_scalar.c", "native/isa_wasm.c",
  "native/wasm/runtime.c", "native/wasm/libm.c", "native/wasm/api.c",
];

/**
 * Memory layout: 1 MiB stack for the calling thread (workers get theirs from malloc, see
 * src/kernels/wasm.ts), 4 MiB initial memory (INITIAL_PAGES there must match), 4 GiB maximum.
 */
const CFLAGS = [
  "--target=wasm32", "-msimd128", "-mbulk-memory", "-O3", "-std=c11", "-fno-math-errno",
  "-nostdlibinc", "-isystem", "native/wasm/include", "-Wall", "-Wextra", "-Wno-unused-function", "-Werror",
];
const LDFLAGS = [
  "--no-entry", "--import-memory", "--max-memory=4294967296", "--initial-memory=4194304",
  "-z", "stack-size=1048576", "--export=__stack_pointer",
];
const THREAD_CFLAGS = ["-matomics"];
const THREAD_LDFLAGS = ["--shared-memory", "--export=__wasm_init_tls", "--export=__tls_size", "--export=__tls_align"];

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

/** Compiles and links into `out` (threaded or not). */
function build(out, threaded) {
  const clang = find("CLANG", ["clang-16", "clang"]);
  const wasmLd = find("WASM_LD", ["wasm-ld-16", "wasm-ld"]);
  const tmp = mkdtempSync(path.join(tmpdir(), "llama-ts-wasm-"));
  try {
    const objs = SOURCES.map((src, i) => {
      const obj = path.join(tmp, `${i}-${path.basename(src, ".c")}.o`);
      run(clang, [...CFLAGS, ...(threaded ? THREAD_CFLAGS : []), "-c", src, "-o", obj]);
      return obj;
    });
    mkdirSync(path.dirname(out), { recursive: true });
    run(wasmLd, [...LDFLAGS, ...(threaded ? THREAD_LDFLAGS : []), ...objs, "-o", out]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(path.join(tmpdir(), "llama-ts-wasm-check-"));
  let same = true;
  try {
    for (const [name, threaded] of Object.entries(VARIANTS)) {
      const out = path.join(tmp, name), committed = path.join(root, "wasm", name);
      build(out, threaded);
      const ok = existsSync(committed) && Buffer.compare(readFileSync(out), readFileSync(committed)) === 0;
      console.log(ok ? `wasm/${name} is up to date` : `wasm/${name} differs from a fresh build: run node scripts/build-wasm.mjs`);
      same &&= ok;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(same ? 0 : 1);
} else {
  for (const [name, threaded] of Object.entries(VARIANTS)) {
    const out = path.join(root, "wasm", name);
    build(out, threaded);
    console.log(`wrote wasm/${name} (${readFileSync(out).length} bytes)`);
  }
}
