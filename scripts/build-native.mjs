// Install step: build the native kernel addon with node-gyp. A failed build is not fatal:
// llama-ts then runs on its reference kernels and says so once at run time.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (!existsSync("binding.gyp")) process.exit(0);
const r = spawnSync("node-gyp", ["rebuild"], { stdio: "inherit", shell: process.platform === "win32" });
if (r.status !== 0) {
  console.warn("llama-ts: the native addon did not build; the reference kernels will be used (slow).");
}
process.exit(0);
