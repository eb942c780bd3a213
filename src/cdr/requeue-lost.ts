import type { Queue } from 'bullmq';
import { jobIdFor, QUEUE_NAME, type CallJobData } from '../queue/calls-queue';
import type { CallStore, RedisClient } from '../store/call-store';

/**
 * After a crash, re-adds jobs for calls that were marked queued but whose job never reached
 * BullMQ. CallProducer marks a call (Lua, dedupe) before `addBulk`; a process killed between
 * the two leaves a record in status `queued` with no job, which a plain retry reports as
 * `duplicate`. Only the records after a file's last checkpoint can be in that state, so only
 * those are checked. Returns the call ids that were re-added.
 */
export async function requeueLost(
  redis: RedisClient,
  store: CallStore,
  queue: Queue<CallJobData>,
  callIds: readonly string[],
): Promise<string[]> {
  if (callIds.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of callIds) pipeline.hget(store.key(id), 'status');
  const statuses = (await pipeline.exec()) ?? [];
  const stillQueued = callIds.filter((_, i) => statuses[i]?.[1] === 'queued');
  const states = await Promise.all(stillQueued.map((id) => queue.getJobState(jobIdFor(id))));
  const lost = stillQueued.filter((_, i) => states[i] === 'unknown');
  if (lost.length > 0) {
    // Same job shape as CallProducer; BullMQ ignores an add whose job id already exists.
    await queue.addBulk(lost.map((call_id) => ({ name: QUEUE_NAME, data: { call_id }, opts: { jobId: jobIdFor(call_id) } })));
  }
  return lost;
}
