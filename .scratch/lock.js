const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const conn = () => new IORedis({ maxRetriesPerRequest: null });
const prefix = 'locktest' + Date.now();
(async () => {
  const q = new Queue('q', { connection: conn(), prefix });
  await q.add('j', {}, { jobId: 'j1' });
  const w = new Worker('q', () => new Promise(() => {}), { connection: conn(), prefix, lockDuration: 10000, lockRenewTime: 2500, stalledInterval: 3000 });
  const r = conn();
  const t0 = Date.now();
  for (let i = 0; i < 14; i++) { await new Promise((s) => setTimeout(s, 500)); console.log(((Date.now() - t0) / 1000).toFixed(1), 'pttl', await r.pttl(`${prefix}:q:j1:lock`)); }
  process.exit(0);
})();
