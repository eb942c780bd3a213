import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';

export const QUEUE_NAME = 'calls';
/** Name of the custom BullMQ backoff strategy that reads each app's own delay from the error. */
export const BACKOFF_TYPE = 'callhook';

/** Job data carries only the call id: the event lives in the call record, secrets in the config. */
export interface CallJobData {
  call_id: string;
}

/**
 * BullMQ forbids integer-like job ids and ':' (the call id pattern already excludes ':'), so
 * an all-digit call id gets a prefix; every other call id is its own job id.
 */
export function jobIdFor(callId: string): string {
  return /^\d+$/.test(callId) ? `n${callId}` : callId;
}

export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  // Apps decide their own retries; this only bounds a call that keeps failing for other reasons.
  attempts: 1000,
  backoff: { type: BACKOFF_TYPE },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 86_400, count: 100_000 },
};

export function createCallsQueue(connection: ConnectionOptions, prefix: string): Queue<CallJobData> {
  return new Queue<CallJobData>(QUEUE_NAME, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}
