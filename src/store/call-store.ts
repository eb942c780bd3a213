import type { Redis, Cluster } from 'ioredis';
import type { SerializedEvent } from '../events/schema';
import { callStatus, type AppResult, type CallEvent, type CallRecord, type CallState, type CallStatus, type Checkpoint } from '../model/call';
import { CHECKPOINT, CLAIM_REALTIME, FINISH, MARK_QUEUED, REPLAY, SAVE_REALTIME, START_RUN } from './scripts';

export type RedisClient = Redis | Cluster;

/** The BullMQ lock a worker holds on a call while it runs it: its key and the job's token. */
export interface Fence {
  lockKey: string;
  token: string;
}

/** A checkpoint write refused because the worker no longer holds the call's lock (another worker took it over). */
export class LockLostError extends Error {
  override name = 'LockLostError';
  constructor(callId: string) {
    super(`call ${callId}: this worker lost the call's lock (another worker took it over); its write was refused`);
  }
}

export type ReplayReset = 'ok' | 'changed' | 'in-queue' | `not-final:${string}`;

const RESULT = 'r:';
const PENDING = 'p:';
/** Calls per mark script: bounds the arguments of one call and the time one script holds Redis. */
const MARK_CHUNK = 1000;

/**
 * Call records in Redis: one hash per call (`<prefix>:call:<call_id>`) holding the event, the
 * status, the policy and one field per app result. A run costs the worker a round trip to
 * start, one per app result but the last, and one to finish (with the last result).
 */
export class CallStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** How long a call record lives after its last write, in ms. */
    readonly ttlMs: number,
  ) {
    if (!('callhookMarkQueued' in redis)) {
      redis.defineCommand('callhookMarkQueued', { lua: MARK_QUEUED }); // key count given per call
      redis.defineCommand('callhookStartRun', { numberOfKeys: 1, lua: START_RUN });
      redis.defineCommand('callhookCheckpoint', { numberOfKeys: 2, lua: CHECKPOINT });
      redis.defineCommand('callhookFinish', { numberOfKeys: 3, lua: FINISH });
      redis.defineCommand('callhookClaimRealtime', { numberOfKeys: 1, lua: CLAIM_REALTIME });
      redis.defineCommand('callhookSaveRealtime', { numberOfKeys: 1, lua: SAVE_REALTIME });
      redis.defineCommand('callhookReplay', { numberOfKeys: 3, lua: REPLAY });
    }
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  key(callId: string): string {
    return `${this.prefix}:call:${callId}`;
  }

  /** Sorted set of calls that ended failed or partial, by finish time (for `replay --failed`). */
  private get failedIndex(): string {
    return `${this.prefix}:failed-calls`;
  }

  /**
   * Resolves when Redis answers and takes a write (readiness): Redis out of memory with
   * `noeviction` still answers PING but refuses every write callhook needs.
   */
  async probeWritable(): Promise<void> {
    await this.redis.set(`${this.prefix}:ready-probe`, Date.now(), 'PX', 10_000);
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

  /**
   * Where a worker's run of a call writes. With a fence, every write is refused (LockLostError)
   * once the worker no longer holds the call's lock.
   */
  checkpoint(callId: string, policyId: string | null, fence?: Fence): Checkpoint {
    const key = this.key(callId);
    const lock = fence?.lockKey ?? key;
    const token = fence?.token ?? '';
    const accepted = (written: unknown) => {
      if (written !== 1) throw new LockLostError(callId);
    };
    return {
      saveResult: async (slug, result) => {
        accepted(await this.scripts.callhookCheckpoint(key, lock, token, policyId ?? '', RESULT + slug, JSON.stringify(result), this.ttlMs, PENDING + slug));
      },
      savePendingAttempts: async (slug, attempts) => {
        accepted(await this.scripts.callhookCheckpoint(key, lock, token, policyId ?? '', PENDING + slug, String(attempts), this.ttlMs));
      },
      finish: async (status, last) => {
        const now = Date.now();
        const args: (string | number)[] = [token, status, policyId ?? '', new Date(now).toISOString(), now, this.ttlMs, callId];
        if (last) args.push(RESULT + last.slug, JSON.stringify(last.result), PENDING + last.slug);
        accepted(await this.scripts.callhookFinish(key, lock, this.failedIndex, ...args));
      },
    };
  }

  /**
   * Before real-time apps run: creates the record if there is none (this write failing means
   * nothing is sent) and answers the policy the call already has, if any.
   */
  async claimRealtime(event: CallEvent): Promise<{ policy: string | undefined }> {
    const policy = await this.scripts.callhookClaimRealtime(this.key(event.call_id), JSON.stringify(event), new Date().toISOString(), this.ttlMs);
    return { policy: policy ?? undefined };
  }

  /** Results of real-time apps, so the call's post-call apps can template from them. */
  async saveRealtimeResults(callId: string, policyId: string, results: Readonly<Record<string, AppResult>>): Promise<void> {
    const fields: string[] = [];
    for (const [slug, result] of Object.entries(results)) fields.push(RESULT + slug, JSON.stringify(result));
    const status = callStatus(Object.values(results));
    await this.scripts.callhookSaveRealtime(this.key(callId), policyId, status, new Date().toISOString(), this.ttlMs, ...fields);
  }

  /** Calls that ended failed or partial since `sinceMs` (epoch ms), oldest first. */
  async failedSince(sinceMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.failedIndex, sinceMs, '+inf');
  }

  /**
   * Prepares a finished call to run again, atomically (see REPLAY): drops the results of the
   * given apps, keeps every success, and marks it queued, if it is still as it was read.
   */
  async resetForReplay(
    callId: string,
    reset: { slugs: readonly string[]; keepPolicy: boolean; finishedAt: string | null; jobKey: string },
  ): Promise<ReplayReset> {
    const fields = reset.slugs.flatMap((slug) => [RESULT + slug, PENDING + slug]);
    return this.scripts.callhookReplay(this.key(callId), this.failedIndex, reset.jobKey, reset.finishedAt ?? '', reset.keepPolicy ? 1 : 0, this.ttlMs, callId, ...fields);
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
  callhookCheckpoint(key: string, lock: string, ...args: (string | number)[]): Promise<number>;
  callhookFinish(key: string, lock: string, index: string, ...args: (string | number)[]): Promise<number>;
  callhookClaimRealtime(key: string, ...args: (string | number)[]): Promise<string | null>;
  callhookSaveRealtime(key: string, ...args: (string | number)[]): Promise<unknown>;
  callhookReplay(key: string, index: string, job: string, ...args: (string | number)[]): Promise<ReplayReset>;
}
