// Install step: build the native kernel addon (native/*.c -> build/Release/llama_ts_native.node)
// with node-gyp. A failed build is not fatal: llama-ts then runs on its reference kernels and
// says so once at run time. Also runnable by hand: `node scripts/build-native.mjs`.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (!existsSync(path.join(root, "binding.gyp"))) process.exit(0);

// node-gyp: the one npm runs scripts with (npm_config_node_gyp), else the one bundled with npm
// next to this node, else whatever is on PATH.
const prefix = path.resolve(path.dirname(process.execPath), "..");
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
].filter((p) => p !== undefined && p !== "" && existsSync(p));

const args = ["rebuild"];
// Outside npm, point node-gyp at the installed headers so it does not try to download them.
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, "include", "node", "node_api.h"))) {
  args.push(`--nodedir=${prefix}`);
}

const r = candidates.length > 0
  ? spawnSync(process.execPath, [candidates[0], ...args], { cwd: root, stdio: "inherit" })
  : spawnSync("node-gyp", args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
if (r.status !== 0) {
  console.warn("llama-ts: the native addon did not build; the reference kernels will be used (slow).");
}
process.exit(0);
