import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';

export const QUEUE_NAME = 'calls';

/** Job data carries only the call id: the event lives in the call record, secrets in the config. */
export interface CallJobData {
  call_id: string;
  /** Set while the call waits for an app's open circuit: which app, since when (epoch ms). */
  waiting?: { slug: string; sinceMs: number } | undefined;
}

/**
 * BullMQ forbids integer-like job ids and ':' (the call id pattern already excludes ':'), so
 * an all-digit call id gets a prefix; every other call id is its own job id.
 */
export function jobIdFor(callId: string): string {
  return /^\d+$/.test(callId) ? `n${callId}` : callId;
}

/** The job's hash in Redis, as BullMQ names it (`<prefix>:<queue>:<job id>`). */
export function jobKeyFor(prefix: string, jobId: string): string {
  return `${prefix}:${QUEUE_NAME}:${jobId}`;
}

/** The key of the lock a worker holds on a job while it runs it; it holds the job's token. */
export function lockKeyFor(prefix: string, jobId: string): string {
  return `${jobKeyFor(prefix, jobId)}:lock`;
}

export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  // Apps retry through BullMQ's delayed set, which spends no attempt: attempts only bound a call
  // that keeps failing for other reasons (Redis hiccups), 5 s apart, before it is recorded failed.
  attempts: 20,
  backoff: { type: 'fixed', delay: 5_000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 86_400, count: 100_000 },
};

export function createCallsQueue(connection: ConnectionOptions, prefix: string): Queue<CallJobData> {
  return new Queue<CallJobData>(QUEUE_NAME, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}
