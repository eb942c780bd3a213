import type { Redis, Cluster } from 'ioredis';
import type { CallEvent } from '../events/schema';
import type { CallState, Checkpoint } from '../pipeline/post-call';
import { callStatus, type AppResult, type CallStatus } from '../pipeline/result';

export type RedisClient = Redis | Cluster;

/** A call as the API shows it. */
export interface CallRecord {
  call_id: string;
  policy: string | null;
  status: CallStatus;
  event: CallEvent;
  app_data: Record<string, AppResult>;
  created_at: string;
  finished_at: string | null;
}

const RESULT = 'r:';
const PENDING = 'p:';

/**
 * Marks a call queued unless it was queued before (atomic, so two producers racing on one
 * call id queue it once). Keeps real-time results already stored for the call.
 * Returns 1 for a new call, 0 for a duplicate, 2 for a duplicate still in status `queued`.
 */
const MARK_QUEUED = `
if redis.call('HSETNX', KEYS[1], 'queued_at', ARGV[1]) == 0 then
  if redis.call('HGET', KEYS[1], 'status') == 'queued' then return 2 end
  return 0
end
redis.call('HSET', KEYS[1], 'event', ARGV[2], 'status', 'queued')
redis.call('HDEL', KEYS[1], 'finished_at')
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/**
 * Call records in Redis: one hash per call (`<prefix>:call:<call_id>`) holding the event, the
 * status and one field per app result, so each app's result is checkpointed with one HSET.
 */
export class CallStore implements Checkpoint {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** How long a call record lives after its last write, in ms. @defaultValue 7 days */
    private readonly ttlMs = 7 * 86_400_000,
  ) {
    if (!('callhookMarkQueued' in redis)) redis.defineCommand('callhookMarkQueued', { numberOfKeys: 1, lua: MARK_QUEUED });
  }

  key(callId: string): string {
    return `${this.prefix}:call:${callId}`;
  }

  /**
   * Marks each event queued. Per event: `new`, `duplicate`, or `still-queued` (a duplicate
   * whose call has not started: its job may have been lost if a producer died between marking
   * and adding it, so the caller adds the job again; BullMQ ignores an id it already has).
   */
  async markQueued(events: readonly CallEvent[]): Promise<('new' | 'duplicate' | 'still-queued')[]> {
    const now = new Date().toISOString();
    const pipeline = this.redis.pipeline();
    for (const event of events) {
      (pipeline as unknown as MarkQueued).callhookMarkQueued(this.key(event.call_id), now, JSON.stringify(event), this.ttlMs);
    }
    const replies = await pipeline.exec();
    return (replies ?? []).map(([error, reply]) => {
      if (error) throw error;
      return reply === 1 ? 'new' : reply === 2 ? 'still-queued' : 'duplicate';
    });
  }

  /** Undoes markQueued for calls that could not be added to the queue, so a retry can queue them. */
  async unmarkQueued(callIds: readonly string[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const id of callIds) pipeline.hdel(this.key(id), 'queued_at', 'status');
    await pipeline.exec();
  }

  /** Sets the status to running and loads the call's state, in one round trip. */
  async startRun(callId: string): Promise<(CallState & { policy: string | undefined }) | undefined> {
    const replies = await this.redis.multi().hset(this.key(callId), 'status', 'running').hgetall(this.key(callId)).exec();
    const fields = replies?.[1]?.[1] as Record<string, string> | undefined;
    if (!fields?.event) {
      await this.redis.del(this.key(callId));
      return undefined;
    }
    const results: Record<string, AppResult> = {};
    const pendingAttempts: Record<string, number> = {};
    for (const [field, value] of Object.entries(fields)) {
      if (field.startsWith(RESULT)) results[field.slice(RESULT.length)] = JSON.parse(value) as AppResult;
      else if (field.startsWith(PENDING)) pendingAttempts[field.slice(PENDING.length)] = Number(value);
    }
    return { event: JSON.parse(fields.event) as CallEvent, policy: fields.policy, results, pendingAttempts };
  }

  async setPolicy(callId: string, policyId: string): Promise<void> {
    await this.redis.hset(this.key(callId), 'policy', policyId);
  }

  async saveResult(callId: string, slug: string, result: AppResult): Promise<void> {
    const key = this.key(callId);
    await this.redis.multi().hset(key, RESULT + slug, JSON.stringify(result)).hdel(key, PENDING + slug).pexpire(key, this.ttlMs).exec();
  }

  /**
   * Results of apps run outside the queue (real-time), stored so post-call apps can use them.
   * A call not queued yet shows the real-time outcome as its status until it is.
   */
  async saveResults(callId: string, event: CallEvent, results: Record<string, AppResult>, policyId: string): Promise<void> {
    const key = this.key(callId);
    const fields: string[] = ['policy', policyId];
    for (const [slug, result] of Object.entries(results)) fields.push(RESULT + slug, JSON.stringify(result));
    const now = new Date().toISOString();
    await this.redis
      .multi()
      .hsetnx(key, 'event', JSON.stringify(event))
      .hsetnx(key, 'created_at', now)
      .hsetnx(key, 'status', callStatus(Object.values(results)))
      .hsetnx(key, 'finished_at', now)
      .hset(key, ...fields)
      .pexpire(key, this.ttlMs)
      .exec();
  }

  async savePendingAttempts(callId: string, slug: string, attempts: number): Promise<void> {
    await this.redis.hset(this.key(callId), PENDING + slug, String(attempts));
  }

  /** Sorted set of calls that ended failed or partial, by finish time (for `replay --failed`). */
  private get failedIndex(): string {
    return `${this.prefix}:failed-calls`;
  }

  async finish(callId: string, status: CallStatus): Promise<void> {
    const key = this.key(callId);
    const now = Date.now();
    const multi = this.redis.multi().hset(key, 'status', status, 'finished_at', new Date(now).toISOString()).pexpire(key, this.ttlMs);
    if (status === 'failed' || status === 'partial') {
      multi.zadd(this.failedIndex, now, callId).zremrangebyscore(this.failedIndex, '-inf', now - this.ttlMs);
    }
    await multi.exec();
  }

  /** Calls that ended failed or partial since `sinceMs` (epoch ms), oldest first. */
  async failedSince(sinceMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.failedIndex, sinceMs, '+inf');
  }

  /**
   * Prepares a finished call to run again: drops the results of the given apps (its failed and
   * skipped ones), keeps every success, and marks it queued.
   */
  async resetForReplay(callId: string, slugs: readonly string[], keepPolicy: boolean): Promise<void> {
    const key = this.key(callId);
    const fields = slugs.flatMap((slug) => [RESULT + slug, PENDING + slug]);
    const multi = this.redis.multi();
    if (fields.length > 0) multi.hdel(key, ...fields);
    if (!keepPolicy) multi.hdel(key, 'policy');
    await multi.hdel(key, 'finished_at').hset(key, 'status', 'queued').pexpire(key, this.ttlMs).zrem(this.failedIndex, callId).exec();
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    const fields = await this.redis.hgetall(this.key(callId));
    if (!fields.event) return undefined;
    const app_data: Record<string, AppResult> = {};
    for (const [field, value] of Object.entries(fields)) {
      if (field.startsWith(RESULT)) app_data[field.slice(RESULT.length)] = JSON.parse(value) as AppResult;
    }
    return {
      call_id: callId,
      policy: fields.policy ?? null,
      status: (fields.status ?? 'queued') as CallStatus,
      event: JSON.parse(fields.event) as CallEvent,
      app_data,
      created_at: fields.created_at ?? '',
      finished_at: fields.finished_at ?? null,
    };
  }
}

interface MarkQueued {
  callhookMarkQueued(key: string, now: string, event: string, ttlMs: number): void;
}
