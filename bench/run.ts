/**
 * `npm run bench`: runs every benchmark section and prints Markdown; BENCHMARKS.md records
 * only the named sections.
 */
interface Section {
  name: string;
  load: () => Promise<{ bench: () => Promise<string> }>;
}

const sections: Section[] = [
  { name: "decode", load: () => import("./decode.js") },
];

const only = process.argv.slice(2);
for (const s of sections) {
  if (only.length > 0 && !only.includes(s.name)) continue;
  const mod = await s.load();
  const md = await mod.bench();
  process.stdout.write(md.endsWith("\n") ? md : md + "\n");
}
