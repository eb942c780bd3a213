// node prof-top.js file.cpuprofile [n] : self time by function and by package bucket
const p = JSON.parse(require('fs').readFileSync(process.argv[2]));
const n = +process.argv[3] || 40;
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const dt = new Map();
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) || 0) + (p.timeDeltas[i] || 0));
const fn = new Map(), bucket = new Map();
let total = 0;
for (const [id, t] of dt) {
  const cf = byId.get(id).callFrame; total += t;
  const url = cf.url || '';
  const k = `${cf.functionName || '(anon)'} ${url.replace(/.*node_modules\//, 'nm/').replace(/.*\/dist\//, '')}:${cf.lineNumber}`;
  fn.set(k, (fn.get(k) || 0) + t);
  let b = url.includes('node_modules/') ? url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1') : url.includes('/dist/') ? 'callhook:' + url.replace(/.*\/dist\//, '').replace(/\/[^/]*$/, '') : url.startsWith('node:') ? 'node:' + url.slice(5).split('/')[0] : (cf.functionName || '(program)');
  bucket.set(b, (bucket.get(b) || 0) + t);
}
const show = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).forEach(([name, t]) => console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${name}`));
console.log('total ms', (total / 1000).toFixed(0)); console.log('--- buckets'); show(bucket, 25); console.log('--- functions'); show(fn, n);
