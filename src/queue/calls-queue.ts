import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';
import { QUEUE_NAME } from '../store/job-keys';

export { jobIdFor, jobKeyFor, lockKeyFor, QUEUE_NAME } from '../store/job-keys';

/** Job data: the call id; the event lives in the call record, secrets in the config. */
export interface CallJobData {
  call_id: string;
  /**
   * A call queued onto a new record carries a copy of its event JSON (up to JOB_EVENT_COPY_MAX)
   * and its queue time, so its first run needs no read of the record (one Redis round trip less
   * per call). Without it (a large event such as a CDR's, a record real-time apps made, a replay)
   * and on any later run, the worker reads the record.
   */
  fresh?: { event: string; queued_at: string } | undefined;
  /** Set while the call waits for an app's open circuit: which app, since when (epoch ms). */
  waiting?: { slug: string; sinceMs: number } | undefined;
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
