import { createCallsQueue } from '../src/queue/calls-queue';
import { apiNodeArgs, deletePrefix, newPrefix, nowUs, opts, record, shared } from './context';
import { EVENT_BASE, request } from './drain';
import { round, summarize } from './lib';
import { callhookEnv, spawnLogged, waitForLine } from './processes';

interface IngestFigures {
  single: { eventsPerSecond: number; p50: number; p99: number };
  batched: { eventsPerSecond: number; p50: number; p99: number };
}

/**
 * `POST /v1/calls` into the queue, single events and batches, the API in a process of its own.
 * With `--compare`, the other build's API is measured too, in alternating rounds.
 */
export async function ingest(): Promise<void> {
  const section = 'ingest (POST /v1/calls, API in its own process)';
  process.stderr.write(`ingest: ${opts.ingestEvents} single events, ${opts.batchEvents} in batches of ${opts.batchSize}...\n`);
  const mine: IngestFigures[] = [];
  const theirs: IngestFigures[] = [];
  for (let r = 0; r < (opts.compare ? opts.rounds : 1); r++) {
    const sides = opts.compare ? [() => measureIngest(opts.cli).then((f) => mine.push(f)), () => measureIngest(opts.compare!).then((f) => theirs.push(f))] : [() => measureIngest(opts.cli).then((f) => mine.push(f))];
    if (r % 2 === 1) sides.reverse();
    for (const side of sides) await side();
  }
  const single = `single events, ${opts.ingestConcurrency} requests in flight`;
  const batches = `batches of ${opts.batchSize}, ${opts.batchConcurrency} requests in flight`;
  const m = mean(mine);
  record(section, single, m.single.eventsPerSecond, 'events/s', `request p50 ${round(m.single.p50, 2)} ms, p99 ${round(m.single.p99, 2)} ms`);
  record(section, batches, m.batched.eventsPerSecond, 'events/s', `request p50 ${round(m.batched.p50, 1)} ms, p99 ${round(m.batched.p99, 1)} ms`);
  if (theirs.length > 0) {
    const t = mean(theirs);
    record(section, `compared build, ${single}`, t.single.eventsPerSecond, 'events/s', `request p50 ${round(t.single.p50, 2)} ms, p99 ${round(t.single.p99, 2)} ms`);
    record(section, `compared build, ${batches}`, t.batched.eventsPerSecond, 'events/s', `request p50 ${round(t.batched.p50, 1)} ms, p99 ${round(t.batched.p99, 1)} ms`);
    record(section, 'callhook / compared build, single events', m.single.eventsPerSecond / t.single.eventsPerSecond, 'x');
    record(section, 'callhook / compared build, batches', m.batched.eventsPerSecond / t.batched.eventsPerSecond, 'x');
  }
}

function mean(figures: IngestFigures[]): IngestFigures {
  const avg = (pick: (f: IngestFigures) => number) => figures.reduce((sum, f) => sum + pick(f), 0) / figures.length;
  return {
    single: { eventsPerSecond: avg((f) => f.single.eventsPerSecond), p50: avg((f) => f.single.p50), p99: avg((f) => f.single.p99) },
    batched: { eventsPerSecond: avg((f) => f.batched.eventsPerSecond), p50: avg((f) => f.batched.p50), p99: avg((f) => f.batched.p99) },
  };
}

async function measureIngest(cli: string): Promise<IngestFigures> {
  const prefix = newPrefix('api');
  const { proc, log } = spawnLogged([...apiNodeArgs, cli, 'api'], { ...callhookEnv(prefix, cli), CALLHOOK_PORT: '0' });
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
  await load(1000, 1, opts.ingestConcurrency); // warm-up
  const single = await load(opts.ingestEvents, 1, opts.ingestConcurrency);
  const batched = await load(opts.batchEvents, opts.batchSize, opts.batchConcurrency);
  await proc.stop();
  const queue = createCallsQueue(shared.redis, prefix);
  const waiting = (await queue.getJobCounts('waiting')).waiting ?? 0;
  await queue.close();
  await deletePrefix(prefix);
  if (waiting !== seq) throw new Error(`ingest: ${seq} events sent, ${waiting} queued`);
  return {
    single: { eventsPerSecond: opts.ingestEvents / single.seconds, p50: single.latency.p50, p99: single.latency.p99 },
    batched: { eventsPerSecond: opts.batchEvents / batched.seconds, p50: batched.latency.p50, p99: batched.latency.p99 },
  };
}
