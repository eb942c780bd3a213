const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const { fork } = require('child_process');
const conn = () => new IORedis({ maxRetriesPerRequest: null });
const opts = { lockDuration: 10000, lockRenewTime: 2500, stalledInterval: 3000, concurrency: 50, maxStalledCount: 10 };
if (process.argv[2] === 'child') {
  new Worker('q', () => { process.send('got'); return new Promise(() => {}); }, { connection: conn(), prefix: process.argv[3], ...opts });
} else (async () => {
  const prefix = 'stalltest' + Date.now();
  const q = new Queue('q', { connection: conn(), prefix });
  const a = fork(__filename, ['child', prefix]);
  await q.add('j', {}, { jobId: 'j1' });
  await new Promise((s) => a.once('message', s));
  let t0;
  const b = new Worker('q', async () => { console.log('B got job after', Date.now() - t0, 'ms'); process.kill(a.pid, 'SIGKILL'); process.exit(0); }, { connection: conn(), prefix, ...opts });
  b.on('stalled', () => console.log('stalled event at', Date.now() - t0));
  await new Promise((s) => setTimeout(s, 1500));
  process.kill(a.pid, 'SIGSTOP'); t0 = Date.now();
})();
