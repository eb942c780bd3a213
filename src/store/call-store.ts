import type { Redis, Cluster } from 'ioredis';
import { eventJson as jsonOf, type SerializedEvent } from '../events/schema';
import { callStatus, isFinal, type AppResult, type AttemptLogEntry, type CallEvent, type CallRecord, type CallState, type CallStatus, type Checkpoint } from '../model/call';
import { resolveTimeBound, type TimeBound } from '../util/duration';
import { redisNowMs } from './expiry';
import { callLockKey, jobIdFor, jobKeyFor } from './job-keys';
import { numberKeys } from './numbers';
import { RecordSnapshot } from './record-snapshot';
import { isRedisRefusal } from './redis-errors';
import { ADD_NUMBERS, CHECKPOINT, CLAIM_REALTIME, FINISH, FINISH_ARGS, FRESH_RECORD_FIELDS, MARK_QUEUED, REPLAY, SAVE_REALTIME, START_RUN } from './scripts';
import { ScriptBatch } from './script-batch';

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

/** A write refused because the call's record is gone: it expired (or was deleted) while the call ran. */
export class CallGoneError extends Error {
  override name = 'CallGoneError';
  constructor(callId: string) {
    super(`call ${callId}: its record expired or was deleted while it ran; its results were not kept`);
  }
}

/**
 * How markQueued found each call: `new` (a record made now), `new-kept` (queued onto a record
 * real-time apps made, whose results it keeps), `duplicate`, or `still-queued` (see markQueued).
 */
export type QueueMark = 'new' | 'new-kept' | 'duplicate' | 'still-queued';

/** A call record's key. */
export function callKey(prefix: string, callId: string): string {
  return `${prefix}:call:${callId}`;
}

export type ReplayReset = 'ok' | 'changed' | 'in-queue' | `not-final:${string}`;

const RESULT = 'r:';
const PENDING = 'p:';
/** Calls per mark script: bounds the arguments of one call and the time one script holds Redis. */
const MARK_CHUNK = 1000;

/**
 * Call records in Redis: one hash per call (`<prefix>:call:<call_id>`) holding the event, the
 * status, the policy and one field per app result. A run costs the worker one round trip per app
 * result but the last, one to finish (with the last result), and one to start when it resumes a
 * call (a first run of a new record starts from its job: freshRun).
 */
export class CallStore {
  private readonly finishes: ScriptBatch;
  private readonly realtimeSaves: ScriptBatch;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** How long a call record lives after its last write, in ms. */
    readonly ttlMs: number,
  ) {
    if (!('callhookMarkQueued' in redis)) {
      redis.defineCommand('callhookMarkQueued', { lua: MARK_QUEUED }); // key count given per call
      redis.defineCommand('callhookStartRun', { numberOfKeys: 1, lua: START_RUN });
      redis.defineCommand('callhookAddNumbers', { numberOfKeys: 1, lua: ADD_NUMBERS });
      redis.defineCommand('callhookCheckpoint', { numberOfKeys: 2, lua: CHECKPOINT });
      redis.defineCommand('callhookFinish', { lua: FINISH }); // key count given per call
      redis.defineCommand('callhookClaimRealtime', { numberOfKeys: 1, lua: CLAIM_REALTIME });
      redis.defineCommand('callhookSaveRealtime', { lua: SAVE_REALTIME }); // key count given per call
      redis.defineCommand('callhookReplay', { numberOfKeys: 2, lua: REPLAY });
    }
    this.finishes = new ScriptBatch((keys, args) => this.scripts.callhookFinish(keys.length, ...keys, this.ttlMs, this.prefix, ...args), { keys: 2, args: FINISH_ARGS });
    this.realtimeSaves = new ScriptBatch((keys, args) => this.scripts.callhookSaveRealtime(keys.length, ...keys, this.ttlMs, this.prefix, ...args), { keys: 1 });
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  key(callId: string): string {
    return callKey(this.prefix, callId);
  }

  /**
   * Resolves when Redis answers and takes a write (readiness): Redis out of memory with
   * `noeviction` still answers PING but refuses every write callhook needs.
   */
  async probeWritable(): Promise<void> {
    await this.redis.set(`${this.prefix}:ready-probe`, Date.now(), 'PX', 10_000);
  }

  /**
   * Marks each event queued at `nowMs`. Per event: `new`, `new-kept`, `duplicate`, or
   * `still-queued` (a duplicate whose call has not written a result: its job may have been lost
   * if a producer died between marking and adding it, so the caller adds the job again; BullMQ
   * ignores an id it already has).
   */
  async markQueued(events: readonly SerializedEvent[], nowMs = Date.now()): Promise<QueueMark[]> {
    return (await this.markQueuedFindingJobs(events, nowMs)).marks;
  }

  /**
   * markQueued, and the ids of the calls it queued now (`new`, `new-kept`) that still have a job
   * of their id in BullMQ: a job given up on (BullMQ keeps failed jobs for days) outlives its
   * call's record, and BullMQ ignores an add whose id it has, so the call would never run. The
   * producer removes such a job before adding the new one. Found by the mark script itself:
   * no round trip more.
   */
  async markQueuedFindingJobs(events: readonly SerializedEvent[], nowMs = Date.now()): Promise<{ marks: QueueMark[]; withJob: string[] }> {
    const now = new Date(nowMs).toISOString();
    const chunks: Promise<number[]>[] = [];
    for (let i = 0; i < events.length; i += MARK_CHUNK) {
      const chunk = events.slice(i, i + MARK_CHUNK);
      const keys = chunk.map((event) => this.key(event.call_id));
      const args = chunk.flatMap((e) => [e.call_id, e.json, e.calling_number, e.called_number, numberKeys(e.calling_number, e.called_number), e.policy ?? '', jobKeyFor(this.prefix, jobIdFor(e.call_id))]);
      chunks.push(this.scripts.callhookMarkQueued(keys.length, ...keys, now, trimSample(nowMs), this.ttlMs, this.prefix, ...args));
    }
    const codes = (await Promise.all(chunks)).flat();
    const withJob: string[] = [];
    const marks = codes.map((code, i) => {
      if (code & JOB_LEFT) withJob.push(events[i]!.call_id);
      return MARKS[code & ~JOB_LEFT] ?? 'duplicate';
    });
    return { marks, withJob };
  }

  /**
   * Undoes markQueued for calls that could not be added to the queue, so a retry can queue them;
   * until one does, the record expires like a finished one (a queued record has no TTL).
   */
  async unmarkQueued(callIds: readonly string[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const id of callIds) {
      pipeline.hdel(this.key(id), 'queued_at', 'status').pexpire(this.key(id), this.ttlMs);
      pipeline.zrem(`${this.prefix}:idx:status:queued`, id);
    }
    await pipeline.exec();
  }

  /**
   * Sets the status to running and loads the call's state, in one round trip; the snapshot goes
   * to `checkpoint` for this run's writes. `finished`: the call is final already (a worker
   * finished it and died before BullMQ heard of it): there is nothing to run.
   */
  async startRun(callId: string): Promise<(CallState & { policy: string | undefined; snapshot: RecordSnapshot; finished?: CallStatus }) | undefined> {
    const flat = await this.scripts.callhookStartRun(this.key(callId));
    if (flat.length === 0) return undefined;
    const results: Record<string, AppResult> = {};
    const pending: Record<string, AttemptLogEntry[]> = {};
    const snapshot = new RecordSnapshot();
    let event: CallEvent | undefined;
    let policy: string | undefined;
    let status: string | undefined;
    for (let i = 0; i < flat.length; i += 2) {
      const field = flat[i] ?? '';
      const value = flat[i + 1] ?? '';
      snapshot.set(field, value);
      if (field.startsWith(RESULT)) results[field.slice(RESULT.length)] = JSON.parse(value) as AppResult;
      else if (field.startsWith(PENDING)) pending[field.slice(PENDING.length)] = parsePending(value);
      else if (field === 'event') event = JSON.parse(value) as CallEvent;
      else if (field === 'policy') policy = value;
      else if (field === 'status') status = value;
    }
    const finished = status && isFinal(status as CallStatus) ? (status as CallStatus) : undefined;
    if (event && !snapshot.has('nums')) await this.addNumbers(callId, event, snapshot);
    return event && { event, policy, results, pending, snapshot, ...(finished ? { finished } : {}) };
  }

  /**
   * Gives a record an older callhook queued (during a rolling upgrade) the numbers the list shows
   * and FINISH indexes it by (`nums`): one round trip, for such records only.
   */
  private async addNumbers(callId: string, event: CallEvent, snapshot: RecordSnapshot): Promise<void> {
    const fields = { calling: event.calling_number, called: event.called_number, nums: numberKeys(event.calling_number, event.called_number) };
    await this.scripts.callhookAddNumbers(this.key(callId), fields.calling, fields.called, fields.nums);
    for (const [field, value] of Object.entries(fields)) snapshot.set(field, value);
  }

  /**
   * The state startRun would load for the first run of a call markQueued made a new record for
   * (`new`), from the event JSON and queue time its job carries: no round trip. The record shows
   * `running` from the run's first checkpoint instead of from its start. Real-time results saved
   * for the call while it waited in the queue are kept in the record, but this run's templates do
   * not see them (real-time apps run before a call is queued: CURRI, /v1/realtime then post-call).
   */
  freshRun(eventJson: string, queuedAt: string): CallState & { policy: undefined; snapshot: RecordSnapshot } {
    const snapshot = new RecordSnapshot();
    const values: Partial<Record<string, string>> = { event: eventJson, queued_at: queuedAt, created_at: queuedAt };
    for (const field of FRESH_RECORD_FIELDS) snapshot.set(field, values[field] ?? '');
    return { event: JSON.parse(eventJson) as CallEvent, policy: undefined, results: {}, pending: {}, snapshot };
  }

  /**
   * Where a worker's run of a call writes. With a fence, every write is refused (LockLostError)
   * once the worker no longer holds the call's lock. With the run's snapshot (startRun), the
   * finish writes the feed entry from it instead of re-reading the record.
   */
  checkpoint(callId: string, policyId: string | null, fence?: Fence, snapshot?: RecordSnapshot): Checkpoint {
    const key = this.key(callId);
    const lock = fence?.lockKey ?? key;
    const token = fence?.token ?? '';
    const accepted = (written: unknown) => {
      if (written === 2) throw new CallGoneError(callId);
      if (written !== 1) throw new LockLostError(callId);
    };
    return {
      saveResult: async (slug, result) => {
        const json = JSON.stringify(result);
        accepted(await whenAccepted(() => this.scripts.callhookCheckpoint(key, lock, token, policyId ?? '', RESULT + slug, json, PENDING + slug)));
        snapshot?.set('policy', policyId ?? '');
        snapshot?.set(RESULT + slug, json);
        snapshot?.delete(PENDING + slug);
      },
      savePending: async (slug, attempts) => {
        const json = JSON.stringify(attempts);
        accepted(await whenAccepted(() => this.scripts.callhookCheckpoint(key, lock, token, policyId ?? '', PENDING + slug, json)));
        snapshot?.set('policy', policyId ?? '');
        snapshot?.set(PENDING + slug, json);
      },
      finish: async (status, last) => {
        const now = Date.now();
        const finishedAt = new Date(now).toISOString();
        const json = last ? JSON.stringify(last.result) : '';
        // The pending attempts of the last app go with its result (unless the snapshot knows there are none).
        const pending = last && (!snapshot || snapshot.has(PENDING + last.slug)) ? PENDING + last.slug : '';
        // Held past half the TTL (retries, waits): its index entries are renewed with the finish.
        const heldLong = !snapshot?.queuedAt || now - Date.parse(snapshot.queuedAt) > this.ttlMs / 2;
        const trim = heldLong ? '1' : trimSample(now);
        if (policyId) snapshot?.set('policy', policyId);
        if (last) {
          snapshot?.set(RESULT + last.slug, json);
          snapshot?.delete(PENDING + last.slug);
        }
        const [head, tail, fieldCount] = feedArgs(snapshot, callId, status, finishedAt, last?.slug);
        const args = [token, status, policyId ?? '', finishedAt, callId, last ? RESULT + last.slug : '', json, pending, head, tail, fieldCount, snapshot?.revision ?? '', trim];
        accepted(await whenAccepted(() => this.finishes.add([key, lock], args)));
      },
    };
  }

  /**
   * Before real-time apps run: creates the record if there is none (this write failing means
   * nothing is sent) and answers the policy the call already has, if any. A record it created
   * comes with its snapshot, for saveRealtimeResults.
   */
  async claimRealtime(event: CallEvent): Promise<{ policy: string | undefined; snapshot?: RecordSnapshot }> {
    const eventJson = jsonOf(event); // the JSON made when the event was checked
    const createdAt = new Date().toISOString();
    const numbers = numberKeys(event.calling_number, event.called_number);
    const [created, policy] = await this.scripts.callhookClaimRealtime(this.key(event.call_id), eventJson, createdAt, this.ttlMs, event.calling_number, event.called_number, numbers);
    if (created !== 1) return { policy: policy ?? undefined };
    const snapshot = new RecordSnapshot();
    for (const [field, value] of [['event', eventJson], ['created_at', createdAt], ['status', 'running'], ['calling', event.calling_number], ['called', event.called_number], ['nums', numbers]] as const) snapshot.set(field, value);
    return { policy: undefined, snapshot };
  }

  /**
   * Results of real-time apps, so the call's post-call apps can template from them. `final`
   * false: the call's post-call apps are about to be queued, so its status and feed entry wait for them.
   * Answers whether this save gave the call its final status (not for a call queued for post-call apps).
   */
  async saveRealtimeResults(
    callId: string,
    policyId: string,
    results: Readonly<Record<string, AppResult>>,
    claim?: { policy: string | undefined; snapshot?: RecordSnapshot | undefined },
    final = true,
  ): Promise<boolean> {
    const snapshot = claim?.snapshot;
    const fields: string[] = [];
    for (const [slug, result] of Object.entries(results)) {
      const json = JSON.stringify(result);
      fields.push(RESULT + slug, json);
      snapshot?.set(RESULT + slug, json);
    }
    const status = callStatus(Object.values(results));
    const now = Date.now();
    const finishedAt = new Date(now).toISOString();
    snapshot?.set('rev', '1'); // the script's own HINCRBY, on a record no one else saved to
    snapshot?.set('policy', policyId);
    const [head, tail, fieldCount] = final ? feedArgs(snapshot, callId, status, finishedAt) : ['', '', ''];
    const call = head + tail;
    // SAVE_REALTIME_ARGS values, then the result fields.
    return (await this.realtimeSaves.add([this.key(callId)], [policyId, status, finishedAt, trimSample(now), callId, call, fieldCount, final ? 1 : 0, fields.length / 2, ...fields])) === 1;
  }

  /** How long ago, by Redis's clock, a queued or running call was queued (Infinity when it is not in the queued index). */
  async sinceQueuedMs(callId: string): Promise<number> {
    const [[, score], [, time]] = (await this.redis.pipeline().zscore(`${this.prefix}:idx:status:queued`, callId).time().exec()) as [[unknown, string | null], [unknown, [string, string]]];
    if (score === null) return Infinity;
    return Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000) - Number(score);
  }

  /** Whether any of the call's stored app results is a success. */
  async anySucceeded(callId: string): Promise<boolean> {
    const fields = await this.redis.hgetall(this.key(callId));
    return Object.entries(fields).some(([field, value]) => field.startsWith(RESULT) && (JSON.parse(value) as AppResult).status === 'success');
  }

  /** The policy a stored call has, if any. */
  async storedPolicy(callId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key(callId), 'policy')) ?? undefined;
  }

  /** Whether the call was ever queued for its post-call apps (a real-time-only call was not). */
  async wasQueued(callId: string): Promise<boolean> {
    return (await this.redis.hexists(this.key(callId), 'queued_at')) === 1;
  }

  /**
   * Calls that ended failed or partial since `since` (a duration back from now by Redis's clock,
   * which scores the indexes, or a point in time), oldest first. Not before the TTL, by the same
   * clock: an older entry's record has expired, and the trims that remove such entries run only
   * now and then (see ExpiredEntriesTrimmer).
   */
  async failedSince(since: TimeBound): Promise<string[]> {
    const now = await redisNowMs(this.redis);
    const oldest = Math.max(resolveTimeBound(since, now), now - this.ttlMs);
    const [failed, partial] = await Promise.all(
      (['failed', 'partial'] as const).map((status) => this.redis.zrangebyscore(`${this.prefix}:idx:status:${status}`, oldest, '+inf', 'WITHSCORES')),
    );
    const scored: [string, number][] = [];
    for (const list of [failed ?? [], partial ?? []]) for (let i = 0; i < list.length; i += 2) scored.push([list[i]!, Number(list[i + 1])]);
    return scored.sort((a, b) => a[1] - b[1]).map(([id]) => id);
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
    return this.scripts.callhookReplay(this.key(callId), reset.jobKey, reset.finishedAt ?? '', reset.keepPolicy ? 1 : 0, this.ttlMs, callId, this.prefix, ...fields);
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    return (await this.getMany([callId]))[0];
  }

  /**
   * Several calls in one round trip, in order; undefined for those that do not exist (expired).
   * A queued call whose job a worker holds (its BullMQ lock) shows as `running`.
   */
  async getMany(callIds: readonly string[]): Promise<(CallRecord | undefined)[]> {
    const pipeline = this.redis.pipeline();
    for (const id of callIds) pipeline.hgetall(this.key(id)).exists(callLockKey(this.prefix, id));
    const replies = (await pipeline.exec()) ?? [];
    return callIds.map((id, i) => {
      const [error, fields] = replies[2 * i] ?? [];
      const [, locked] = replies[2 * i + 1] ?? [];
      if (error) throw error;
      return recordOf(id, fields as Record<string, string>, locked === 1);
    });
  }
}

/**
 * What a final-status script needs to append the feed entry itself: the call's JSON, cut where
 * the result of `slug` goes (see RecordSnapshot.callJsonAround), and the record's field count,
 * from the snapshot once it holds this write too; empty without one (the script reads the record).
 */
function feedArgs(snapshot: RecordSnapshot | undefined, callId: string, status: CallStatus, finishedAt: string, slug?: string): [string, string, string] {
  if (!snapshot) return ['', '', ''];
  snapshot.set('status', status);
  snapshot.set('finished_at', finishedAt);
  return [...snapshot.callJsonAround(callId, status, finishedAt, slug), String(snapshot.fieldCount)];
}

/** How long a worker keeps offering a refused checkpoint write to Redis. */
const REFUSED_WRITE_RETRY_MS = 30_000;

/**
 * A checkpoint write, sent again while Redis refuses it before running it (out of memory with
 * noeviction, a failover): the result it holds came from a receiver that already answered, and
 * dropping it would send that app again. Up to REFUSED_WRITE_RETRY_MS, waits of 0.1-2 s; the
 * lock may lapse meanwhile, which fencing allows for as long as no other worker holds it.
 */
async function whenAccepted<T>(write: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 2000)) {
    try {
      return await write();
    } catch (error) {
      if (!isRedisRefusal(error) || Date.now() - started + delayMs > REFUSED_WRITE_RETRY_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** Whether a script writing one call trims the indexes: one time in 16, by the clock's ms ('1'/'0'). */
function trimSample(nowMs: number): string {
  return nowMs % 16 === 0 ? '1' : '0';
}

/** A call record from its hash fields; undefined when it has no event (it does not exist). */
function recordOf(callId: string, fields: Record<string, string>, locked: boolean): CallRecord | undefined {
  if (!fields.event) return undefined;
  const app_data: Record<string, AppResult> = {};
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith(RESULT)) app_data[field.slice(RESULT.length)] = JSON.parse(value) as AppResult;
  }
  return {
    call_id: callId,
    policy: fields.policy ?? null,
    status: shownStatus(fields.status, locked),
    event: JSON.parse(fields.event) as CallEvent,
    app_data,
    created_at: fields.created_at ?? '',
    finished_at: fields.finished_at ?? null,
  };
}

/**
 * The status a call is shown with: a worker's first run of a new call writes nothing until its
 * first result (CallStore.freshRun), so a queued call whose job is locked is running.
 */
export function shownStatus(stored: string | undefined, locked: boolean): CallStatus {
  const status = (stored ?? 'queued') as CallStatus;
  return status === 'queued' && locked ? 'running' : status;
}

const MARKS: Record<number, QueueMark> = { 1: 'new', 3: 'new-kept', 2: 'still-queued', 0: 'duplicate' };
/** Added to a call's mark when it was queued now and its id still has a BullMQ job (MARK_QUEUED). */
const JOB_LEFT = 4;

/** The scripts defined on the connection (ioredis defineCommand). */
interface Scripts {
  callhookMarkQueued(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
  callhookStartRun(key: string): Promise<string[]>;
  callhookAddNumbers(key: string, ...args: string[]): Promise<number>;
  callhookCheckpoint(key: string, lock: string, ...args: (string | number)[]): Promise<number>;
  callhookFinish(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
  callhookClaimRealtime(key: string, ...args: (string | number)[]): Promise<[number, string | null]>;
  callhookSaveRealtime(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
  callhookReplay(key: string, job: string, ...args: (string | number)[]): Promise<ReplayReset>;
}

/** Pending attempts as stored: a JSON array of log entries (a bare count from before the log existed). */
function parsePending(value: string): AttemptLogEntry[] {
  const parsed = JSON.parse(value) as AttemptLogEntry[] | number;
  if (Array.isArray(parsed)) return parsed;
  return Array.from({ length: Number(parsed) || 0 }, () => ({ at: '', http_status: null, duration_ms: 0, error: null, retry_in_ms: null }));
}
