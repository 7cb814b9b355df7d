// Builds the browser bundle: src/browser/index.ts -> dist/browser/llama-ts.js (one ESM file,
// platform "browser", source map next to it), with esbuild.
//
// Contract: the bundle reaches no Node built-in. Any import of one (node:fs, "path", "os", ...)
// from a module the entry reaches fails the build with the importing file named, so a Node-only
// import that creeps into the shared library shows up at `npm run build`, not in a user's page.
//
// Node-only modules with a browser twin (same exported names), substituted in the bundle:
//   src/kernels/backend.ts (native addon, process.env) -> src/browser/backend.ts, the browser's
//     one backend choice;
//   src/util/files.ts (node:fs) -> src/browser/files.ts, whose path-taking functions say that a
//     page passes bytes instead.
//
// Usage: node scripts/build-browser.mjs [--check] [--entry FILE]
//   --check       build in memory and write nothing (only the built-in check and the errors)
//   --entry FILE  bundle FILE instead of src/browser/index.ts (tests show the check failing)
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const entryAt = args.indexOf("--entry");
const entry = entryAt >= 0 ? path.resolve(args[entryAt + 1] ?? "") : path.join(root, "src/browser/index.ts");
const outfile = path.join(root, "dist/browser/llama-ts.js");

/** Node-only module (by absolute .ts path) -> its browser twin. */
const BROWSER_TWINS = new Map([
  [path.join(root, "src/kernels/backend.ts"), path.join(root, "src/browser/backend.ts")],
  [path.join(root, "src/util/files.ts"), path.join(root, "src/browser/files.ts")],
]);

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** @type {esbuild.Plugin} */
const browserOnly = {
  name: "llama-ts-browser-only",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      const bare = args.path.split("/")[0];
      if (builtins.has(args.path) || builtins.has(bare) || args.path.startsWith("node:")) {
        const from = path.relative(root, args.importer);
        return { errors: [{ text: `the browser bundle reaches the Node built-in "${args.path}" (imported by ${from}); move the Node-only code out of the isomorphic path` }] };
      }
      if (args.path.startsWith(".")) {
        const abs = path.resolve(args.resolveDir, args.path).replace(/\.js$/, ".ts");
        const twin = BROWSER_TWINS.get(abs);
        if (twin && args.importer !== twin) return { path: twin };
      }
      return undefined;
    });
  },
};

const check = args.includes("--check");
try {
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    sourcemap: !check,
    write: !check,
    metafile: true,
    logLevel: "silent",
    plugins: [browserOnly],
    legalComments: "none",
  });
  // The wasm backend's Web Worker (src/kernels/wasm-worker.ts), beside the bundle: the bundle
  // starts it as new URL("./llama-ts-worker.js", import.meta.url).
  if (entryAt < 0) {
    await esbuild.build({
      entryPoints: [path.join(root, "src/kernels/wasm-worker.ts")], outfile: path.join(root, "dist/browser/llama-ts-worker.js"),
      bundle: true, format: "esm", platform: "browser", target: ["es2022"], write: !check, logLevel: "silent", plugins: [browserOnly],
      legalComments: "none",
    });
  }
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  if (!check) console.log(`dist/browser/llama-ts.js: ${(bytes / 1024).toFixed(0)} KiB, ${Object.keys(result.metafile.inputs).length} modules`);
} catch (e) {
  const errors = /** @type {{errors?: esbuild.Message[]}} */ (e).errors ?? [];
  if (errors.length === 0) throw e;
  for (const m of errors) {
    const at = m.location ? `${m.location.file}:${m.location.line}: ` : "";
    console.error(`build-browser: ${at}${m.text}`);
  }
  process.exit(1);
}
