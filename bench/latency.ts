import { Queue } from 'bullmq';
import { createCallsQueue } from '../src/queue/calls-queue';
import { CallProducer } from '../src/queue/producer';
import { CallStore } from '../src/store/call-store';
import { deletePrefix, newPrefix, nowUs, opts, record, shared, sleep } from './context';
import { event, getJson, resetReceiver } from './drain';
import { summarize } from './lib';
import { startBaselineWorkers, startCallhookWorkers } from './processes';

/** Enqueue → the call's first request at the receiver, at a light steady rate, baseline then callhook. */
export async function latency(): Promise<void> {
  const section = `latency (enqueue -> first request at the receiver, ${opts.latencyRate} calls/s)`;
  process.stderr.write(`latency: ${opts.latencyCalls} calls at ${opts.latencyRate}/s, baseline then callhook...\n`);
  {
    const prefix = newPrefix('latbase');
    const queue = new Queue('calls', { connection: shared.redis, prefix, defaultJobOptions: { removeOnComplete: true } });
    const procs = await startBaselineWorkers(prefix, 'calls', 1, 1);
    const samples = await measure((i) => queue.add('calls', { call_id: `lb-${i}` }, { jobId: `lb-${i}` }), (i) => `lb-${i}.0`);
    await Promise.all(procs.map((p) => p.stop()));
    await queue.close();
    await deletePrefix(prefix);
    const s = summarize(samples);
    record(section, 'baseline (Queue.add -> worker -> POST), p50', s.p50, 'ms');
    record(section, 'baseline, p99', s.p99, 'ms');
  }
  {
    const prefix = newPrefix('latch');
    const store = new CallStore(shared.redis, prefix, 86_400_000);
    const queue = createCallsQueue(shared.redis, prefix);
    const producer = new CallProducer(queue, store);
    const procs = await startCallhookWorkers(prefix, 1);
    const samples = await measure((i) => producer.enqueue([event(`lc-${i}`, 'bench1')]), (i) => `lc-${i}.crm-lookup`);
    await Promise.all(procs.map((p) => p.stop()));
    await queue.close();
    await deletePrefix(prefix);
    const s = summarize(samples);
    record(section, 'callhook (CallProducer.enqueue -> first app request), p50', s.p50, 'ms');
    record(section, 'callhook, p99', s.p99, 'ms');
  }
}

/** Enqueues calls at the configured rate; the latency of each from the receiver's first-arrival times. */
async function measure(enqueue: (i: number) => Promise<unknown>, key: (i: number) => string): Promise<number[]> {
  const warmup = 50;
  const total = warmup + opts.latencyCalls;
  const interval = 1000 / opts.latencyRate;
  await resetReceiver();
  const sentAt: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    sentAt.push(nowUs());
    await enqueue(i);
  }
  const deadline = Date.now() + 30_000;
  let times: Record<string, number> = {};
  while (Date.now() < deadline) {
    times = (await getJson(`${shared.receiverUrl}/__times`)) as Record<string, number>;
    if (Object.keys(times).length >= total) break;
    await sleep(100);
  }
  const samples: number[] = [];
  for (let i = warmup; i < total; i++) {
    const at = times[key(i)];
    if (at === undefined) throw new Error(`latency: no request for ${key(i)}`);
    samples.push((at - sentAt[i]!) / 1000);
  }
  return samples;
}
