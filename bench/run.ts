/**
 * `npm run bench`: runs every benchmark section and prints Markdown; BENCHMARKS.md records
 * the results with the command that reproduces them. `npm run bench -- matmul decode` runs
 * only the named sections.
 */
import { UserError } from "../src/util/errors.js";

interface Section {
  name: string;
  load: () => Promise<{ bench: () => Promise<string> }>;
  /** Runs only when named (real-size writes ~3.5 GB of model files and takes minutes). */
  onlyWhenNamed?: boolean;
}

const sections: Section[] = [
  { name: "tokenizer", load: () => import("./tokenizer.js") },
  { name: "matmul", load: () => import("./matmul.js") },
  { name: "decode", load: () => import("./decode.js") },
  { name: "train", load: () => import("./train.js") },
  { name: "quant-ppl", load: () => import("./quant-ppl.js") },
  { name: "eval", load: () => import("./eval.js") },
  { name: "peers", load: () => import("./peers.js") },
  { name: "serve", load: () => import("./serve.js") },
  { name: "wasm", load: () => import("./wasm.js") },
  { name: "real-size", load: () => import("./real-size.js"), onlyWhenNamed: true },
  { name: "browser", load: () => import("./browser.js"), onlyWhenNamed: true },
];

const HELP = `usage: npm run bench [-- SECTION ...] [--OPTION=VALUE ...]

Runs the named sections (default: all but the ones marked "only when named") and prints Markdown.
Sections: ${sections.map((s) => s.name + (s.onlyWhenNamed ? " (only when named)" : "")).join(", ")}.

real-size options: --types=q8_0,f16,... --threads=1,2 --decode=N --repeat=N --layers=N --f32 --7b
  (--repeat=N: each engine N times per cell, alternating; the medians)

examples:
  npm run bench -- decode
  npm run bench -- real-size --types=q4_0,q8_0 --repeat=5
`;

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith("-")); // --options belong to the sections
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(HELP);
} else {
  const unknown = only.filter((n) => !sections.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown section ${unknown.join(", ")} (sections: ${sections.map((s) => s.name).join(", ")})\n`);
    process.exit(2);
  }
  try {
    for (const s of sections) {
      if ((only.length > 0 || s.onlyWhenNamed) && !only.includes(s.name)) continue;
      const mod = await s.load();
      const md = await mod.bench();
      process.stdout.write(md.endsWith("\n") ? md : md + "\n");
    }
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    // a bad option (e.g. --repeat=0) is one line, not a stack trace
    process.stderr.write(`bench: ${e.message}\n`);
    process.exit(2);
  }
}
