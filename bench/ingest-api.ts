import { createCallsQueue } from '../src/queue/calls-queue';
import { deletePrefix, newPrefix, nodeArgs, nowUs, opts, record, shared } from './context';
import { EVENT_BASE, request } from './drain';
import { round, summarize } from './lib';
import { callhookEnv, spawnLogged, waitForLine } from './processes';

/** `POST /v1/calls` into the queue, single events and batches, the API in a process of its own. */
export async function ingest(): Promise<void> {
  const section = 'ingest (POST /v1/calls, API in its own process)';
  const prefix = newPrefix('api');
  const { proc, log } = spawnLogged([...nodeArgs, opts.cli, 'api'], { ...callhookEnv(prefix), CALLHOOK_PORT: '0' });
  const line = await waitForLine(log, 'api listening', proc.child);
  const url = `${(JSON.parse(line) as { url: string }).url}/v1/calls`;
  let seq = 0;
  const body = (count: number) => {
    const events = Array.from({ length: count }, () => ({ ...EVENT_BASE, call_id: `i-${++seq}`, policy: 'bench1' }));
    return JSON.stringify(count === 1 ? events[0] : events);
  };
  /** `total` events in requests of `size`, `concurrency` requests in flight; returns seconds and per-request latencies. */
  const load = async (total: number, size: number, concurrency: number) => {
    const latencies: number[] = [];
    let sent = 0;
    const t0 = nowUs();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (sent < total) {
          const count = Math.min(size, total - sent);
          sent += count;
          const text = body(count);
          const start = nowUs();
          const response = await request(url, 'POST', text);
          latencies.push((nowUs() - start) / 1000);
          if (response.status !== 202) throw new Error(`POST /v1/calls: ${response.status} ${response.text.slice(0, 200)}`);
        }
      }),
    );
    return { seconds: (nowUs() - t0) / 1e6, latency: summarize(latencies) };
  };
  process.stderr.write(`ingest: ${opts.ingestEvents} single events, ${opts.batchEvents} in batches of ${opts.batchSize}...\n`);
  await load(1000, 1, opts.ingestConcurrency); // warm-up
  const single = await load(opts.ingestEvents, 1, opts.ingestConcurrency);
  const batched = await load(opts.batchEvents, opts.batchSize, opts.batchConcurrency);
  await proc.stop();
  const queue = createCallsQueue(shared.redis, prefix);
  const waiting = (await queue.getJobCounts('waiting')).waiting ?? 0;
  await queue.close();
  await deletePrefix(prefix);
  if (waiting !== seq) throw new Error(`ingest: ${seq} events sent, ${waiting} queued`);
  record(section, `single events, ${opts.ingestConcurrency} requests in flight`, opts.ingestEvents / single.seconds, 'events/s', `request p50 ${round(single.latency.p50, 2)} ms, p99 ${round(single.latency.p99, 2)} ms`);
  record(section, `batches of ${opts.batchSize}, ${opts.batchConcurrency} requests in flight`, opts.batchEvents / batched.seconds, 'events/s', `request p50 ${round(batched.latency.p50, 1)} ms, p99 ${round(batched.latency.p99, 1)} ms`);
}
