// node prof-callers.js file.cpuprofile fnName : stacks leading to the function (inclusive time)
const p = JSON.parse(require('fs').readFileSync(process.argv[2]));
const target = process.argv[3];
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const x of p.nodes) for (const c of x.children || []) parent.set(c, x.id);
const dt = new Map();
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) || 0) + (p.timeDeltas[i] || 0));
const stacks = new Map();
for (const [id, t] of dt) {
  const chain = []; let cur = id; let hit = false;
  while (cur !== undefined) { const cf = byId.get(cur).callFrame; chain.push(cf.functionName + ':' + (cf.url || '').split('/').pop() + ':' + cf.lineNumber); if (cf.functionName === target) { hit = true; chain.length = 0; chain.push(cf.functionName); } cur = parent.get(cur); }
  if (!hit) continue;
}
// simpler: for each node named target, sum inclusive time and print its ancestor chain
function incl(id) { let t = dt.get(id) || 0; for (const c of byId.get(id).children || []) t += incl(c); return t; }
const out = new Map();
for (const x of p.nodes) if (x.callFrame.functionName === target) {
  const chain = []; let cur = parent.get(x.id); let k = 0;
  while (cur !== undefined && k++ < 8) { const cf = byId.get(cur).callFrame; chain.push(cf.functionName + '@' + (cf.url || '').split('/').pop() + ':' + cf.lineNumber); cur = parent.get(cur); }
  const key = chain.join(' < '); out.set(key, (out.get(key) || 0) + incl(x.id));
}
[...out].sort((a, b) => b[1] - a[1]).slice(0, 10).forEach(([k, t]) => console.log((t / 1000).toFixed(0) + 'ms', k));
