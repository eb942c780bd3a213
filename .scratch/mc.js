const axios = require('axios');
const { createHttpClient } = require('/work/main/dist/src/webhook/http-client.js');
const c1 = createHttpClient();
const c2 = createHttpClient();
c2.defaults.headers = { common: { Accept: 'application/json, text/plain, */*' } };
const req = () => ({ method: 'post', url: 'http://127.0.0.1:1/crm/contacts/x', headers: { 'Content-Type': 'application/json', 'User-Agent': 'callhook/0.1.0', 'X-Caller': "O'Brien", 'X-Device': 'SEP001122334455', 'Idempotency-Key': 'c-1.crm-lookup' }, data: '{"a":1}', maxContentLength: 1e6, cancelToken: axios.CancelToken.source().token, signal: undefined });
for (const [name, c] of [['default', c1], ['slim', c2], ['default', c1], ['slim', c2]]) {
  const t0 = process.hrtime.bigint(); for (let i = 0; i < 200000; i++) axios.mergeConfig(c.defaults, req());
  console.log(name, Number(process.hrtime.bigint() - t0) / 200000 / 1000, 'us');
}
console.log(Object.keys(c1.defaults), JSON.stringify(c1.defaults.headers));
for (const drop of ['env', 'transitional', 'xsrfCookieName', 'transformRequest', 'validateStatus', 'adapter']) {
  const c = createHttpClient(); c.defaults.headers = { common: { Accept: 'application/json, text/plain, */*' } }; delete c.defaults[drop];
  const t0 = process.hrtime.bigint(); for (let i = 0; i < 200000; i++) axios.mergeConfig(c.defaults, req());
  console.log('slim - ' + drop, Number(process.hrtime.bigint() - t0) / 200000 / 1000, 'us');
}
{ const t0 = process.hrtime.bigint(); for (let i = 0; i < 200000; i++) req(); console.log('req() alone', Number(process.hrtime.bigint() - t0) / 200000 / 1000, 'us'); }
