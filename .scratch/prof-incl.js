// node prof-incl.js file.cpuprofile fn1 fn2 ... : inclusive ms of each function (sample counted once per fn)
const p = JSON.parse(require('fs').readFileSync(process.argv[2]));
const names = process.argv.slice(3);
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const x of p.nodes) for (const c of x.children || []) parent.set(c, x.id);
const dt = new Map(); let busy = 0;
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) || 0) + (p.timeDeltas[i] || 0));
const res = Object.fromEntries(names.map((n) => [n, 0]));
for (const [id, t] of dt) {
  if (byId.get(id).callFrame.functionName === '(idle)') continue; busy += t;
  const seen = new Set(); let cur = id;
  while (cur !== undefined) { const f = byId.get(cur).callFrame.functionName; if (f in res && !seen.has(f)) { seen.add(f); res[f] += t; } cur = parent.get(cur); }
}
console.log('busy ms', (busy / 1000).toFixed(0));
for (const n of names) console.log(((100 * res[n]) / busy).toFixed(1).padStart(5) + '%', n);
