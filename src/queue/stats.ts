import type { Queue } from 'bullmq';
import type { RedisClient } from '../store/call-store';
import type { CallJobData } from './calls-queue';

/** What the queue looks like now: for the console's Queue screen and `GET /v1/stats`. */
export interface QueueStats {
  jobs: { waiting: number; active: number; delayed: number; failed: number };
  /**
   * Worker connections BullMQ sees on the queue right now; null when Redis will not list its
   * clients (CLIENT disabled or renamed, as on Memorystore): unknown, not none.
   */
  workers: QueueWorker[] | null;
  /** Calls finished per minute by final status, oldest minute first (the last `minutes`). */
  finished_per_minute: { minute: string; completed: number; partial: number; failed: number; unmatched: number }[];
}

export interface QueueWorker {
  name: string;
  idle_s: number;
}

const FINAL = ['completed', 'partial', 'failed', 'unmatched'] as const;

/** Reads the queue's counts and workers from BullMQ, and finishes per minute from the status indexes. */
export async function queueStats(queue: Queue<CallJobData>, redis: RedisClient, prefix: string, minutes = 30, now = Date.now()): Promise<QueueStats> {
  const [counts, workers] = await Promise.all([queue.getJobCounts('waiting', 'active', 'delayed', 'failed'), queueWorkers(queue)]);
  const end = Math.floor(now / 60_000) * 60_000 + 60_000;
  const pipeline = redis.pipeline();
  for (let m = minutes; m >= 1; m--) {
    const from = end - m * 60_000;
    for (const status of FINAL) pipeline.zcount(`${prefix}:idx:status:${status}`, from, `(${from + 60_000}`);
  }
  const values = ((await pipeline.exec()) ?? []).map(([, n]) => Number(n));
  const finished_per_minute = Array.from({ length: minutes }, (_, i) => {
    const at = i * FINAL.length;
    return {
      minute: new Date(end - (minutes - i) * 60_000).toISOString(),
      completed: values[at] ?? 0,
      partial: values[at + 1] ?? 0,
      failed: values[at + 2] ?? 0,
      unmatched: values[at + 3] ?? 0,
    };
  });
  return {
    jobs: { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0 },
    workers: workers ?? null,
    finished_per_minute,
  };
}

/**
 * The worker connections BullMQ sees on the queue, or undefined when Redis refuses `CLIENT LIST`
 * (disabled or renamed, as on Memorystore). BullMQ then answers one placeholder entry instead,
 * `{name: 'GCP does not support client list'}`, which counted as a worker: the count was always
 * 1 and the no-worker alert could never fire. A real entry is a parsed `CLIENT LIST` line, which
 * always has the client's `rawname`.
 */
export async function queueWorkers(queue: Pick<Queue, 'getWorkers'>): Promise<QueueWorker[] | undefined> {
  const clients = await queue.getWorkers();
  if (clients.some((client) => client.rawname === undefined)) return undefined;
  return clients.map((client) => ({ name: workerName(client), idle_s: Number(client.idle ?? 0) }));
}

/** The name a worker gave BullMQ (`host:pid`, after `:w:` in its connection's client name), else its address. */
function workerName(client: Record<string, string>): string {
  const raw = client.rawname ?? '';
  const at = raw.indexOf(':w:');
  return at >= 0 ? raw.slice(at + 3) : (client.addr ?? '');
}
