import type { Redis, Cluster } from 'ioredis';
import type { CallEvent, SerializedEvent } from '../events/schema';
import type { CallState, Checkpoint } from '../pipeline/post-call';
import { callStatus, type AppResult, type CallStatus } from '../pipeline/result';
import { CHECKPOINT, FINISH, MARK_QUEUED, START_RUN } from './scripts';

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
/** Calls per mark script: bounds the arguments of one call and the time one script holds Redis. */
const MARK_CHUNK = 1000;

/**
 * Call records in Redis: one hash per call (`<prefix>:call:<call_id>`) holding the event, the
 * status, the policy and one field per app result. A run costs the worker a round trip to
 * start, one per app result but the last, and one to finish (with the last result).
 */
export class CallStore implements Checkpoint {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** How long a call record lives after its last write, in ms. @defaultValue 7 days */
    private readonly ttlMs = 7 * 86_400_000,
  ) {
    if (!('callhookMarkQueued' in redis)) {
      redis.defineCommand('callhookMarkQueued', { lua: MARK_QUEUED }); // key count given per call
      redis.defineCommand('callhookStartRun', { numberOfKeys: 1, lua: START_RUN });
      redis.defineCommand('callhookCheckpoint', { numberOfKeys: 1, lua: CHECKPOINT });
      redis.defineCommand('callhookFinish', { numberOfKeys: 2, lua: FINISH });
    }
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  /**
   * Resolves when Redis answers and takes a write (readiness): Redis out of memory with
   * `noeviction` still answers PING but refuses every write callhook needs.
   */
  async probeWritable(): Promise<void> {
    await this.redis.set(`${this.prefix}:ready-probe`, Date.now(), 'PX', 10_000);
  }

  key(callId: string): string {
    return `${this.prefix}:call:${callId}`;
  }

  /**
   * Marks each event queued. Per event: `new`, `duplicate`, or `still-queued` (a duplicate
   * whose call has not started: its job may have been lost if a producer died between marking
   * and adding it, so the caller adds the job again; BullMQ ignores an id it already has).
   */
  async markQueued(events: readonly SerializedEvent[]): Promise<('new' | 'duplicate' | 'still-queued')[]> {
    const now = new Date().toISOString();
    const chunks: Promise<number[]>[] = [];
    for (let i = 0; i < events.length; i += MARK_CHUNK) {
      const chunk = events.slice(i, i + MARK_CHUNK);
      const keys = chunk.map((event) => this.key(event.call_id));
      chunks.push(this.scripts.callhookMarkQueued(keys.length, ...keys, now, this.ttlMs, ...chunk.map((event) => event.json)));
    }
    const marks = (await Promise.all(chunks)).flat();
    return marks.map((mark) => (mark === 1 ? 'new' : mark === 2 ? 'still-queued' : 'duplicate'));
  }

  /** Undoes markQueued for calls that could not be added to the queue, so a retry can queue them. */
  async unmarkQueued(callIds: readonly string[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const id of callIds) pipeline.hdel(this.key(id), 'queued_at', 'status');
    await pipeline.exec();
  }

  /** Sets the status to running and loads the call's state, in one round trip. */
  async startRun(callId: string): Promise<(CallState & { policy: string | undefined }) | undefined> {
    const flat = await this.scripts.callhookStartRun(this.key(callId));
    if (flat.length === 0) return undefined;
    const results: Record<string, AppResult> = {};
    const pendingAttempts: Record<string, number> = {};
    let event: CallEvent | undefined;
    let policy: string | undefined;
    for (let i = 0; i < flat.length; i += 2) {
      const field = flat[i] ?? '';
      const value = flat[i + 1] ?? '';
      if (field.startsWith(RESULT)) results[field.slice(RESULT.length)] = JSON.parse(value) as AppResult;
      else if (field.startsWith(PENDING)) pendingAttempts[field.slice(PENDING.length)] = Number(value);
      else if (field === 'event') event = JSON.parse(value) as CallEvent;
      else if (field === 'policy') policy = value;
    }
    return event && { event, policy, results, pendingAttempts };
  }

  async saveResult(callId: string, policyId: string, slug: string, result: AppResult): Promise<void> {
    await this.scripts.callhookCheckpoint(this.key(callId), policyId, RESULT + slug, JSON.stringify(result), this.ttlMs, PENDING + slug);
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

  async savePendingAttempts(callId: string, policyId: string, slug: string, attempts: number): Promise<void> {
    await this.scripts.callhookCheckpoint(this.key(callId), policyId, PENDING + slug, String(attempts), this.ttlMs);
  }

  /** Sorted set of calls that ended failed or partial, by finish time (for `replay --failed`). */
  private get failedIndex(): string {
    return `${this.prefix}:failed-calls`;
  }

  /** Records the final status, with the last app's result when given (one round trip). */
  async finish(callId: string, policyId: string | null, status: CallStatus, last?: { slug: string; result: AppResult }): Promise<void> {
    const now = Date.now();
    const args: (string | number)[] = [status, policyId ?? '', new Date(now).toISOString(), now, this.ttlMs, callId];
    if (last) args.push(RESULT + last.slug, JSON.stringify(last.result), PENDING + last.slug);
    await this.scripts.callhookFinish(this.key(callId), this.failedIndex, ...args);
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

/** The scripts defined on the connection (ioredis defineCommand). */
interface Scripts {
  callhookMarkQueued(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
  callhookStartRun(key: string): Promise<string[]>;
  callhookCheckpoint(key: string, ...args: (string | number)[]): Promise<unknown>;
  callhookFinish(key: string, index: string, ...args: (string | number)[]): Promise<unknown>;
}
