/**
 * How BullMQ names the calls queue's keys, for the store's scripts and reads that look at a
 * call's job (replay, the `running` status) as well as the queue itself.
 */
export const QUEUE_NAME = 'calls';

/**
 * BullMQ forbids integer-like job ids and ':' (the call id pattern already excludes ':'), so an
 * all-digit call id gets an `n` in front. So that no two calls share a job, every call id of that
 * form (any number of `n`s, then digits: `777`, `n777`, `nn777`) gets one more `n`; every other
 * call id is its own job id. (`n777` once shared `777`'s job, and the later call was never run.)
 */
export function jobIdFor(callId: string): string {
  return /^n*\d+$/.test(callId) ? `n${callId}` : callId;
}

/** The job's hash in Redis, as BullMQ names it (`<prefix>:<queue>:<job id>`). */
export function jobKeyFor(prefix: string, jobId: string): string {
  return `${prefix}:${QUEUE_NAME}:${jobId}`;
}

/** The key of the lock a worker holds on a job while it runs it; it holds the job's token. */
export function lockKeyFor(prefix: string, jobId: string): string {
  return `${jobKeyFor(prefix, jobId)}:lock`;
}

/** The lock of a call's job: held while a worker runs the call. */
export function callLockKey(prefix: string, callId: string): string {
  return lockKeyFor(prefix, jobIdFor(callId));
}
