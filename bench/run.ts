/**
 * `npm run bench`: runs every benchmark section and prints Markdown; BENCHMARKS.md records
 * the results with the command that reproduces them. `npm run bench -- matmul decode` runs
 * only the named sections.
 */
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

const only = process.argv.slice(2).filter((a) => !a.startsWith("--")); // --options belong to the sections
for (const s of sections) {
  if ((only.length > 0 || s.onlyWhenNamed) && !only.includes(s.name)) continue;
  const mod = await s.load();
  const md = await mod.bench();
  process.stdout.write(md.endsWith("\n") ? md : md + "\n");
}
