/**
 * The raw baseline of `npm run bench`, run as its own process like a callhook worker: a
 * minimal BullMQ worker that, per job, POSTs a fixed JSON body with a plain keep-alive axios
 * client to the bench receiver (BENCH_REQUESTS times, one after the other). No templates, no
 * call record, no result stored: what Redis, BullMQ and HTTP cost on this machine.
 *
 * env: REDIS_URL, BENCH_PREFIX, BENCH_QUEUE, BENCH_CONCURRENCY, BENCH_URL, BENCH_REQUESTS.
 * Prints "ready" once its connections are up; exits cleanly on SIGTERM.
 */
import http from 'node:http';
import axios from 'axios';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function main(): Promise<void> {
  const url = env('BENCH_URL');
  const requests = Number(env('BENCH_REQUESTS'));
  const client = axios.create({ httpAgent: new http.Agent({ keepAlive: true }) });
  const body = JSON.stringify({ phone: '+1 (555) 123-4567', called: '1000', name: "O'Brien & Sons", at: '2024-05-01T12:00:00.000Z' });
  const connection = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: null });
  const worker = new Worker(
    env('BENCH_QUEUE'),
    async (job) => {
      for (let i = 0; i < requests; i++) {
        await client.post(url, body, { headers: { 'Content-Type': 'application/json', 'Idempotency-Key': `${job.id}.${i}` } });
      }
    },
    { connection, prefix: env('BENCH_PREFIX'), concurrency: Number(env('BENCH_CONCURRENCY')) },
  );
  worker.on('error', (error) => process.stderr.write(`baseline worker: ${error.message}\n`));
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void worker.close().then(async () => {
      await connection.quit();
      process.exit(0);
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline worker: ${String(error)}\n`);
  process.exit(1);
});
