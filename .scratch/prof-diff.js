// node prof-diff.js a.cpuprofile callsA b.cpuprofile callsB : self µs per call by function, biggest differences
const fs = require('fs');
function load(f) {
  const p = JSON.parse(fs.readFileSync(f)); const byId = new Map(p.nodes.map((x) => [x.id, x])); const m = new Map();
  for (let i = 0; i < p.samples.length; i++) { const cf = byId.get(p.samples[i]).callFrame; const k = `${cf.functionName || '(anon)'} ${(cf.url || '').replace(/.*node_modules\//, 'nm/').replace(/.*\/dist\//, '')}`; m.set(k, (m.get(k) || 0) + (p.timeDeltas[i] || 0)); }
  return m;
}
const [fa, na, fb, nb] = process.argv.slice(2); const a = load(fa), b = load(fb);
const keys = new Set([...a.keys(), ...b.keys()]); const rows = [];
let ta = 0, tb = 0;
for (const k of keys) { if (k.startsWith('(idle)')) continue; const x = (a.get(k) || 0) / na, y = (b.get(k) || 0) / nb; ta += x; tb += y; rows.push([k, x, y, x - y]); }
console.log(`total busy µs/call: A ${ta.toFixed(1)}  B ${tb.toFixed(1)}`);
rows.sort((p, q) => Math.abs(q[3]) - Math.abs(p[3])).slice(0, +process.argv[6] || 40).forEach(([k, x, y, d]) => console.log(`${d >= 0 ? '+' : ''}${d.toFixed(1).padStart(6)}  A ${x.toFixed(1).padStart(6)}  B ${y.toFixed(1).padStart(6)}  ${k}`));
