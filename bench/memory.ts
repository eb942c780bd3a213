import { cpus } from 'node:os';
import { opts, record } from './context';
import { drainCallhook } from './drain';
import { round } from './lib';

/** A worker draining a large backlog: its peak memory, and Redis bytes per queued call. */
export async function memory(): Promise<void> {
  const section = `memory (backlog of ${opts.backlog} calls, 1 app, 1 worker process)`;
  process.stderr.write(`memory: enqueue and drain ${opts.backlog} calls...\n`);
  const r = await drainCallhook(opts.backlog, { policy: 'bench1', requestsPerCall: 1, memory: true });
  record(section, 'worker peak RSS (VmHWM) while draining', r.peakRss! / 2 ** 20, 'MiB');
  record(section, 'Redis memory per queued call (used_memory delta / N)', r.redisBytesPerCall!, 'bytes', `call record ${r.callKeyBytes} B + BullMQ job ${r.jobKeyBytes} B (MEMORY USAGE)`);
  record(section, 'Redis memory per finished call (its record, indexes and feed entry; the job removed)', r.redisBytesPerFinishedCall!, 'bytes');
  record(section, 'enqueue rate (CallProducer.enqueue, batches of 1000)', opts.backlog / r.enqueueSeconds!, 'calls/s');
  record(section, 'drain rate', r.callsPerSecond, 'calls/s', `${round(r.seconds, 1)} s`);
}

/** The same calls drained by one, then two worker processes on one Redis. */
export async function scale(): Promise<void> {
  const section = `scale (${opts.scaleCalls} calls, 1 app, concurrency ${opts.concurrency} per process)`;
  const results: number[] = [];
  for (const workers of [1, 2]) {
    process.stderr.write(`scale: ${workers} worker process(es)...\n`);
    const r = await drainCallhook(opts.scaleCalls, { policy: 'bench1', requestsPerCall: 1, workers });
    results.push(r.callsPerSecond);
    record(section, `${workers} worker process${workers > 1 ? 'es' : ''}`, r.callsPerSecond, 'calls/s', `${round(r.seconds, 2)} s`);
  }
  record(section, '2 processes / 1 process', results[1]! / results[0]!, 'x', `${cpus().length} cores shared with Redis and the receiver`);
}
