const http = require('http');
const axios = require('axios');
const { createHttpClient } = require('/work/main/dist/src/webhook/http-client.js');
const body = JSON.stringify({ phone: '+1 (555) 123-4567', called: '1000', name: "O'Brien & Sons", at: new Date().toISOString() });
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('{"ok":true}')); }).listen(0, async () => {
  const url = `http://127.0.0.1:${server.address().port}/x`;
  const c = createHttpClient();
  const run = async (asBuffer, n) => { let i = 0; const cpu0 = process.cpuUsage(); await Promise.all(Array.from({ length: 50 }, async () => { while (i++ < n) await c.request({ method: 'post', url, headers: { 'Content-Type': 'application/json', 'User-Agent': 'callhook/0.1.0', 'X-Caller': "O'Brien", 'X-Device': 'SEP001122334455', 'Idempotency-Key': 'c-1.crm-lookup' }, data: asBuffer ? Buffer.from(body) : body, maxContentLength: 1e6, cancelToken: axios.CancelToken.source().token }); })); const u = process.cpuUsage(cpu0); return (u.user + u.system) / n; };
  await run(false, 5000); await run(true, 5000);
  for (let r = 0; r < 3; r++) for (const b of [false, true]) console.log(b ? 'buffer' : 'string', (await run(b, 20000)).toFixed(1), 'us CPU/request');
  server.close(); process.exit(0);
});
