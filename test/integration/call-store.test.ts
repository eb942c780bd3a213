import type { Redis } from 'ioredis';
import { serializeEvent } from '../../src/events/schema';
import { CallGoneError, CallStore, LockLostError } from '../../src/store/call-store';
import { numberKey } from '../../src/store/numbers';
import { RecordSnapshot } from '../../src/store/record-snapshot';
import { makeEvent } from '../helpers/events';
import { startPrivateRedis, fillUntilRefused } from '../helpers/private-redis';
import { uniquePrefix, useCallStore } from '../helpers/redis';

/** The call JSON the snapshot built (callJsonAround), with the finish's last result put back where it was cut. */
function joined(spy: jest.SpiedFunction<RecordSnapshot['callJsonAround']>, last?: unknown): string {
  const [head, tail] = spy.mock.results[0]!.value as [string, string];
  return head + (last === undefined ? '' : JSON.stringify(last)) + tail;
}

describe('CallStore.markQueued', () => {
  const shared = useCallStore(__filename);
  const { prefix } = shared;
  let redis: Redis;
  let store: CallStore;
  beforeAll(() => ({ redis, store } = shared));

  it('marks a batch larger than one script call, in order, each call once', async () => {
    // 2,500 calls take three mark scripts; the same id twice in a batch is marked once.
    const events = Array.from({ length: 2500 }, (_, i) => makeEvent({ call_id: `mark-${i}`, calling_name: `Caller "${i}"` }));
    const batch = [...events, events[1200]!].map(serializeEvent);
    const marks = await store.markQueued(batch);
    expect(marks).toHaveLength(2501);
    expect(marks.slice(0, 2500).every((m) => m === 'new')).toBe(true);
    expect(marks[2500]).toBe('still-queued');
    expect((await store.get('mark-2499'))?.event).toEqual(events[2499]);
    expect(await redis.hget(store.key('mark-0'), 'status')).toBe('queued');
    // The batch's index entries, written one ZADD per index per script.
    expect(await redis.zcard(`${prefix}:idx:all`)).toBe(2500);
    expect(await redis.zcard(`${prefix}:idx:status:queued`)).toBe(2500);
    const number = `${prefix}:idx:number:${numberKey(events[2499]!.calling_number)}`;
    expect(await redis.zscore(number, 'mark-2499')).not.toBeNull();
    expect(await redis.pttl(number)).toBeGreaterThan(60_000);
  });

  it('answers duplicate for a call that has started or finished', async () => {
    const event = makeEvent();
    await store.markQueued([serializeEvent(event)]);
    await store.startRun(event.call_id);
    expect(await store.markQueued([serializeEvent(event)])).toEqual(['duplicate']);
    await store.checkpoint(event.call_id, 'default').finish('completed');
    expect(await store.markQueued([serializeEvent(event)])).toEqual(['duplicate']);
  });

  it('tells a new record from one real-time apps made, or one a failed enqueue left behind', async () => {
    const fresh = makeEvent();
    const realtime = makeEvent();
    await store.claimRealtime(realtime);
    expect(await store.markQueued([serializeEvent(fresh), serializeEvent(realtime)])).toEqual(['new', 'new-kept']);
    const unmarked = makeEvent();
    await store.markQueued([serializeEvent(unmarked)]);
    await store.unmarkQueued([unmarked.call_id]);
    // Until a retry queues it, the record expires like a finished one and is not listed queued.
    expect(await redis.pttl(store.key(unmarked.call_id))).toBeGreaterThan(0);
    expect(await redis.zscore(`${prefix}:idx:status:queued`, unmarked.call_id)).toBeNull();
    expect(await store.markQueued([serializeEvent(unmarked)])).toEqual(['new-kept']);
    expect(await redis.pttl(store.key(unmarked.call_id))).toBe(-1);
  });

  describe('a first run started from its job (freshRun)', () => {
    const result = { status: 'success' as const, http_status: 200, data: { ok: true }, message: 'OK', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };
    const queueFresh = async () => {
      const event = makeEvent({ calling_name: 'O\'Brien & Sons <VIP> \u{1F600}' });
      const nowMs = Date.now();
      expect(await store.markQueued([serializeEvent(event)], nowMs)).toEqual(['new']);
      return { event, state: store.freshRun(serializeEvent(event).json, new Date(nowMs).toISOString()) };
    };

    it('knows the record as markQueued made it: the finish appends the snapshot\'s call JSON, equal to the record', async () => {
      const { event, state } = await queueFresh();
      expect(state.snapshot.fieldCount).toBe(await redis.hlen(store.key(event.call_id)));
      expect(state).toMatchObject({ event, policy: undefined, results: {}, pending: {} });
      const checkpoint = store.checkpoint(event.call_id, 'default', undefined, state.snapshot);
      await checkpoint.saveResult('crm', result);
      expect(await redis.hget(store.key(event.call_id), 'status')).toBe('running');
      const built = jest.spyOn(RecordSnapshot.prototype, 'callJsonAround');
      await checkpoint.finish('completed', { slug: 'ticket', result });
      const [entry] = (await redis.xrevrange(`${prefix}:results`, '+', '-', 'COUNT', 1)) as [string, string[]][];
      const json = entry![1][entry![1].indexOf('call') + 1]!;
      expect(json).toBe(joined(built, result));
      built.mockRestore();
      expect(JSON.parse(json)).toEqual(await store.get(event.call_id));
    });

    it('writes nothing once the record is gone (expired or deleted while the call ran)', async () => {
      const { event, state } = await queueFresh();
      await redis.del(store.key(event.call_id));
      const checkpoint = store.checkpoint(event.call_id, 'default', undefined, state.snapshot);
      await expect(checkpoint.saveResult('crm', result)).rejects.toThrow(CallGoneError);
      await expect(checkpoint.finish('completed', { slug: 'ticket', result })).rejects.toThrow(CallGoneError);
      expect(await redis.exists(store.key(event.call_id))).toBe(0);
    });
  });

  describe('the feed entry a finish appends', () => {
    const result = (message: string) => ({ status: 'success' as const, http_status: 200, data: { message }, message: 'OK', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null });
    const lastEntryJson = async () => {
      const [entry] = (await redis.xrevrange(`${prefix}:results`, '+', '-', 'COUNT', 1)) as [string, string[]][];
      const fields = entry![1];
      return fields[fields.indexOf('call') + 1]!;
    };
    const lastEntry = async () => JSON.parse(await lastEntryJson()) as unknown;
    const runToEnd = async (callId: string, meanwhile?: () => Promise<unknown>) => {
      const state = (await store.startRun(callId))!;
      const checkpoint = store.checkpoint(callId, 'default', undefined, state.snapshot);
      await checkpoint.savePending('crm', [{ at: 'x', http_status: 503, duration_ms: 1, error: null, retry_in_ms: 10 }]);
      await checkpoint.saveResult('crm', result('crm "quoted" \u2028'));
      await meanwhile?.();
      await checkpoint.finish('completed', { slug: 'ticket', result: result('ticket') });
    };

    it('is the call as stored, built by the worker from its snapshot of the record', async () => {
      const event = makeEvent({ calling_name: 'O\'Brien & Sons <VIP> \u{1F600}' });
      await store.claimRealtime(event);
      await store.saveRealtimeResults(event.call_id, 'default', { lookup: result('real-time') });
      await store.markQueued([serializeEvent(event)]);
      const built = jest.spyOn(RecordSnapshot.prototype, 'callJsonAround');
      await runToEnd(event.call_id);
      expect(await lastEntryJson()).toBe(joined(built, result('ticket')));
      built.mockRestore();
      const stored = await store.get(event.call_id);
      expect(Object.keys(stored!.app_data).sort()).toEqual(['crm', 'lookup', 'ticket']);
      expect(await lastEntry()).toEqual(stored);
      expect(await redis.hexists(store.key(event.call_id), 'p:crm')).toBe(0);
    });

    it('is built from the snapshot for a real-time-only call too', async () => {
      const event = makeEvent({ calling_name: 'Zoë "Z" <z@example.com>' });
      const claim = await store.claimRealtime(event);
      const built = jest.spyOn(RecordSnapshot.prototype, 'callJsonAround');
      await store.saveRealtimeResults(event.call_id, 'default', { lookup: result('real-time'), greet: result('hello') }, claim);
      expect(await lastEntryJson()).toBe(joined(built));
      built.mockRestore();
      expect(await lastEntry()).toEqual(await store.get(event.call_id));
    });

    it('is read from the record when a real-time save overwrote a result during the run (same field count)', async () => {
      const event = makeEvent();
      await store.claimRealtime(event);
      await store.saveRealtimeResults(event.call_id, 'default', { lookup: result('first') });
      await store.markQueued([serializeEvent(event)]);
      await runToEnd(event.call_id, () => store.saveRealtimeResults(event.call_id, 'default', { lookup: result('resent') }));
      const stored = await store.get(event.call_id);
      expect(stored!.app_data.lookup!.data).toEqual({ message: 'resent' });
      expect(await lastEntry()).toEqual(stored);
    });

    it('renews the index expiry when a call was held longer than half the TTL', async () => {
      const event = makeEvent({ calling_number: '+1 555 777 0001' });
      const number = `${prefix}:idx:number:15557770001`;
      await store.markQueued([serializeEvent(event)]);
      await redis.pexpire(number, 1000); // as if it had entered long ago
      await redis.hset(store.key(event.call_id), 'queued_at', new Date(Date.now() - 40_000).toISOString()); // the TTL here is 60 s
      await runToEnd(event.call_id);
      expect(await redis.pttl(number)).toBeGreaterThan(60_000);
    });

    it('is read from the record when something else wrote it during the run', async () => {
      const event = makeEvent();
      await store.markQueued([serializeEvent(event)]);
      await runToEnd(event.call_id, () => store.saveRealtimeResults(event.call_id, 'default', { lookup: result('late real-time') }));
      const stored = await store.get(event.call_id);
      expect(Object.keys(stored!.app_data).sort()).toEqual(['crm', 'lookup', 'ticket']);
      expect(await lastEntry()).toEqual(stored);
    });
  });

  describe('finishes made in one round of I/O', () => {
    const result = { status: 'success' as const, http_status: 200, data: { ok: true }, message: 'OK', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };

    it('go to Redis as one script, each fenced by its own lock', async () => {
      const events = [makeEvent(), makeEvent(), makeEvent()];
      await store.markQueued(events.map(serializeEvent));
      const checkpoints = await Promise.all(
        events.map(async (event, i) => {
          const lockKey = `${prefix}:lock:${event.call_id}`;
          await redis.set(lockKey, i === 1 ? 'another-worker' : `token-${i}`);
          const state = (await store.startRun(event.call_id))!;
          return store.checkpoint(event.call_id, 'default', { lockKey, token: `token-${i}` }, state.snapshot);
        }),
      );
      const finishes = jest.spyOn(redis as unknown as { callhookFinish: () => Promise<unknown> }, 'callhookFinish');
      const settled = await Promise.allSettled(checkpoints.map((checkpoint) => checkpoint.finish('completed', { slug: 'crm', result })));
      expect(finishes).toHaveBeenCalledTimes(1);
      finishes.mockRestore();
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(LockLostError);
      const [first, lost, third] = await Promise.all(events.map((event) => store.get(event.call_id)));
      expect([first!.status, lost!.status, third!.status]).toEqual(['completed', 'running', 'completed']);
      const completed = await redis.zrange(`${prefix}:idx:status:completed`, 0, -1);
      expect(completed).toEqual(expect.arrayContaining([events[0]!.call_id, events[2]!.call_id]));
      expect(completed).not.toContain(events[1]!.call_id);
      expect(await redis.zscore(`${prefix}:idx:status:queued`, events[1]!.call_id)).not.toBeNull();
      const feed = (await redis.xrevrange(`${prefix}:results`, '+', '-', 'COUNT', 2)) as [string, string[]][];
      const fed = feed.map(([, fields]) => JSON.parse(fields[fields.indexOf('call') + 1]!) as { call_id: string });
      expect(fed.map((call) => call.call_id).sort()).toEqual([events[0]!.call_id, events[2]!.call_id].sort());
      expect(fed.find((call) => call.call_id === events[0]!.call_id)).toEqual(first);
    });

    it('real-time saves go as one script too, each call stored, indexed and fed as when saved alone', async () => {
      const events = [makeEvent(), makeEvent(), makeEvent()];
      const claims = await Promise.all(events.map((event) => store.claimRealtime(event)));
      const failed = { ...result, status: 'failed' as const, http_status: 503 };
      const saves = jest.spyOn(redis as unknown as { callhookSaveRealtime: () => Promise<unknown> }, 'callhookSaveRealtime');
      // Each save says whether it gave its call a final status (the API counts those as finished).
      expect(await Promise.all([
        store.saveRealtimeResults(events[0]!.call_id, 'default', { crm: result }, claims[0]),
        store.saveRealtimeResults(events[1]!.call_id, 'default', { crm: failed, ticket: result }, claims[1]),
        store.saveRealtimeResults(events[2]!.call_id, 'default', {}, claims[2], false), // its post-call apps follow
      ])).toEqual([true, true, false]);
      expect(saves).toHaveBeenCalledTimes(1);
      saves.mockRestore();
      const [first, second, third] = await Promise.all(events.map((event) => store.get(event.call_id)));
      expect([first!.status, second!.status, third!.status]).toEqual(['completed', 'partial', 'running']);
      expect(second!.app_data).toEqual({ crm: failed, ticket: result });
      expect(await redis.zscore(`${prefix}:idx:status:completed`, events[0]!.call_id)).not.toBeNull();
      expect(await redis.zscore(`${prefix}:idx:status:partial`, events[1]!.call_id)).not.toBeNull();
      expect(await redis.zscore(`${prefix}:idx:status:queued`, events[2]!.call_id)).not.toBeNull();
      const feed = (await redis.xrevrange(`${prefix}:results`, '+', '-', 'COUNT', 2)) as [string, string[]][];
      const fed = feed.map(([, fields]) => JSON.parse(fields[fields.indexOf('call') + 1]!) as { call_id: string });
      expect(fed).toEqual([second, first]);
    });

    it('two real-time saves of one call in one round are made in order, and it is indexed under its last status only', async () => {
      const event = makeEvent();
      const claim = await store.claimRealtime(event);
      const failed = { ...result, status: 'failed' as const, http_status: 503 };
      await Promise.all([store.saveRealtimeResults(event.call_id, 'default', { crm: failed }, claim), store.saveRealtimeResults(event.call_id, 'default', { crm: result })]);
      expect(await store.get(event.call_id)).toMatchObject({ status: 'completed', app_data: { crm: result } });
      expect(await redis.zscore(`${prefix}:idx:status:failed`, event.call_id)).toBeNull();
      expect(await redis.zscore(`${prefix}:idx:status:completed`, event.call_id)).not.toBeNull();
    });
  });

  describe('expiry and clocks', () => {
    const result = { status: 'success' as const, http_status: 200, data: { ok: true }, message: 'OK', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };

    it('keeps a queued, waiting or running call\'s record however long that takes: the TTL starts at its final status', async () => {
      const event = makeEvent();
      await store.claimRealtime(event); // a real-time record expires like any finished call
      expect(await redis.pttl(store.key(event.call_id))).toBeGreaterThan(0);
      await store.markQueued([serializeEvent(event)]);
      expect(await redis.pttl(store.key(event.call_id))).toBe(-1);
      await store.saveRealtimeResults(event.call_id, 'default', { lookup: result }, undefined, false);
      // A queued call keeps the status its worker gives it: a final save does not finish it.
      expect(await store.saveRealtimeResults(event.call_id, 'default', { lookup: result })).toBe(false);
      const state = (await store.startRun(event.call_id))!;
      const checkpoint = store.checkpoint(event.call_id, 'default', undefined, state.snapshot);
      await checkpoint.savePending('crm', [{ at: 'x', http_status: 503, duration_ms: 1, error: null, retry_in_ms: 10 }]);
      await checkpoint.saveResult('crm', result);
      expect(await redis.pttl(store.key(event.call_id))).toBe(-1);
      await checkpoint.finish('completed', { slug: 'ticket', result });
      expect(await redis.pttl(store.key(event.call_id))).toBeGreaterThan(50_000);
    });

    it('scores, trims and feeds by Redis\'s clock: a writer whose clock runs days ahead removes nothing', async () => {
      const early = makeEvent();
      await store.markQueued([serializeEvent(early)]);
      await store.checkpoint(early.call_id, 'default').finish('completed');
      const entries = await redis.xlen(`${prefix}:results`);
      const skewed = jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 8 * 86_400_000);
      try {
        for (let i = 0; i < 20; i++) {
          // Without a snapshot a finish counts as held long, so each of these trims the indexes.
          const late = makeEvent();
          await store.markQueued([serializeEvent(late)]);
          await store.checkpoint(late.call_id, 'default').finish('completed');
        }
      } finally {
        skewed.mockRestore();
      }
      expect(await redis.xlen(`${prefix}:results`)).toBe(entries + 20);
      const score = Number(await redis.zscore(`${prefix}:idx:all`, early.call_id));
      expect(Math.abs(score - Date.now())).toBeLessThan(60_000);
      expect(await redis.zscore(`${prefix}:idx:status:completed`, early.call_id)).not.toBeNull();
    });
  });

  describe('fencing by the BullMQ lock', () => {
    const result = { status: 'success' as const, http_status: 200, data: { ok: true }, message: 'OK', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };
    const running = async () => {
      const event = makeEvent();
      await store.markQueued([serializeEvent(event)]);
      const lockKey = `${prefix}:lock:${event.call_id}`;
      const state = (await store.startRun(event.call_id))!;
      return { id: event.call_id, lockKey, checkpoint: store.checkpoint(event.call_id, 'default', { lockKey, token: 'mine' }, state.snapshot) };
    };

    it('refuses a worker whose lock another worker holds now', async () => {
      const { lockKey, checkpoint } = await running();
      await redis.set(lockKey, 'theirs');
      await expect(checkpoint.saveResult('crm', result)).rejects.toThrow(LockLostError);
      await expect(checkpoint.finish('completed', { slug: 'crm', result })).rejects.toThrow(LockLostError);
    });

    it('keeps the results of a worker whose lock lapsed with no one else holding it (Redis paused past it), unless the call is final', async () => {
      const { id, checkpoint } = await running(); // no lock key: it lapsed
      await checkpoint.saveResult('crm', result);
      await checkpoint.finish('completed', { slug: 'ticket', result });
      expect(Object.keys((await store.get(id))!.app_data).sort()).toEqual(['crm', 'ticket']);
      await expect(checkpoint.saveResult('late', result)).rejects.toThrow(LockLostError);
      expect((await store.get(id))!.app_data.late).toBeUndefined();
    });
  });
});

describe('a checkpoint write Redis refuses for want of memory', () => {
  it('is sent again until Redis takes it, so the result the receiver gave is kept', async () => {
    const redis = await startPrivateRedis(['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction']);
    try {
      const prefix = uniquePrefix(__filename);
      const store = new CallStore(redis.client, prefix, 60_000);
      const event = makeEvent();
      await store.markQueued([serializeEvent(event)]);
      const state = (await store.startRun(event.call_id))!;
      const ballast = await fillUntilRefused(redis.client);
      const result = { status: 'success' as const, http_status: 200, data: { ok: true }, message: 'OK', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };
      const finishing = store.checkpoint(event.call_id, 'default', undefined, state.snapshot).finish('completed', { slug: 'crm', result });
      await new Promise((resolve) => setTimeout(resolve, 700)); // refused a few times meanwhile
      expect((await store.get(event.call_id))!.status).toBe('running');
      await redis.client.del(...ballast);
      await finishing;
      expect((await store.get(event.call_id))!.app_data.crm).toEqual(result);
      expect(await redis.client.xlen(`${prefix}:results`)).toBe(1);
    } finally {
      await redis.stop();
    }
  });
});
