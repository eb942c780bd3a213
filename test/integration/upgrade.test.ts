import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { serializeEvent } from '../../src/events/schema';
import { exportCalls } from '../../src/results/export';
import { CallIndex } from '../../src/store/call-index';
import { ExpiredEntriesTrimmer } from '../../src/store/expiry';
import { jobIdFor, QUEUE_NAME } from '../../src/store/job-keys';
import { SCHEMA_VERSION, upgradeStore } from '../../src/store/upgrade';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { OldBuild } from '../helpers/old-records';
import { connectRedis, deletePrefix, uniquePrefix, useCallStore } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

const silent = pino({ level: 'silent' });
const HOUR = 3_600_000;

/** Calls as an operator's old build left them: finished, partial, failed, and one waiting for its retry. */
async function writeOldCalls(old: OldBuild) {
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
  const completed = makeEvent({ calling_number: '+1 (555) 010-0001' });
  const partial = makeEvent({ calling_number: '5550100002' });
  const failed = makeEvent({ calling_number: '5550100003' });
  const retrying = makeEvent({ calling_number: '5550100004' });
  for (const [event, status] of [[completed, 'completed'], [partial, 'partial'], [failed, 'failed']] as const) {
    await old.queue(event, minutesAgo(30));
    await old.finish(event.call_id, 'default', 'notify', status, minutesAgo(20));
  }
  await old.queue(retrying, minutesAgo(10));
  await old.retrying(retrying.call_id, 'default', 'notify');
  return { completed, partial, failed, retrying };
}

describe('upgrading a store an older callhook wrote', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const fresh = () => {
    const prefix = uniquePrefix(__filename);
    prefixes.push(prefix);
    return prefix;
  };
  beforeAll(() => (redis = connectRedis()));
  afterAll(async () => {
    for (const prefix of prefixes) await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('lists, searches, exports and replays the calls it finished, from the first start of the new build', async () => {
    const prefix = fresh();
    const old = new OldBuild(redis, prefix, 2 * HOUR);
    const calls = await writeOldCalls(old);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
    const h = await startHarness(__filename, 'policies:\n  - id: default\n    apps: []\n', { prefix, worker: false, logger, env: { CALLHOOK_RESULT_TTL: '2h' } });
    try {
      const ids = (query: string) => h.request('GET', `/v1/calls?${query}`).then((r) => (r.body.calls as { call_id: string }[]).map((c) => c.call_id).sort());
      const all = Object.values(calls).map((e) => e.call_id);
      expect(await ids('limit=100')).toEqual([...all].sort());
      expect(await ids('status=partial')).toEqual([calls.partial.call_id]);
      expect(await ids('status=running')).toEqual([calls.retrying.call_id]);
      expect(await ids('number=15550100001')).toEqual([calls.completed.call_id]);
      const rows = (await h.request('GET', '/v1/calls?number=5550100004')).body.calls;
      expect(rows).toEqual([expect.objectContaining({ call_id: calls.retrying.call_id, calling_number: '5550100004', called_number: '1000' })]);
      // replay --failed
      expect((await h.runtime.store.failedSince({ ago: HOUR })).sort()).toEqual([calls.partial.call_id, calls.failed.call_id].sort());
      let csv = '';
      const out = new Writable({ write: (chunk, _encoding, done) => ((csv += String(chunk)), done()) });
      expect(await exportCalls(h.runtime.redis, prefix, h.runtime.store, { since: { ago: HOUR }, format: 'csv', out })).toEqual({ calls: 4 });
      expect(csv).toContain(`${calls.partial.call_id},default,partial,5550100002,1000`);
      // The legacy set is merged into the status indexes, then gone; the waiting call keeps its record.
      expect(await redis.exists(`${prefix}:failed-calls`)).toBe(0);
      expect(await redis.pttl(`${prefix}:call:${calls.retrying.call_id}`)).toBe(-1);
      expect(await redis.pttl(`${prefix}:call:${calls.completed.call_id}`)).toBeGreaterThan(0);
      expect(await redis.get(`${prefix}:schema`)).toBe(String(SCHEMA_VERSION));
      // The feed starts from the upgrade: calls finished before it are not replayed into it.
      expect(await redis.xlen(`${prefix}:results`)).toBe(0);
      expect(lines.join('')).toMatch(/store upgraded: 4 of 4 call records given their numbers and indexed/);
    } finally {
      await h.stop();
    }
  });

  it('costs one GET once done, and on an empty prefix after its first start', async () => {
    const prefix = fresh();
    const old = new OldBuild(redis, prefix, HOUR);
    await writeOldCalls(old);
    expect(await upgradeStore(redis, prefix, HOUR, silent)).toEqual({ records: 4, upgraded: 4, legacyFailed: 2 });
    const empty = fresh();
    expect(await upgradeStore(redis, empty, HOUR, silent)).toEqual({ records: 0, upgraded: 0, legacyFailed: 0 });
    for (const done of [prefix, empty]) {
      const commands: string[] = [];
      const counting = new Proxy(redis, {
        get(target, name, receiver) {
          const value = Reflect.get(target, name, receiver);
          return typeof value === 'function' ? (...args: unknown[]) => (commands.push(String(name)), (value as (...a: unknown[]) => unknown).apply(target, args)) : value;
        },
      });
      expect(await upgradeStore(counting, done, HOUR, silent)).toBeUndefined();
      expect(commands).toEqual(['get']);
    }
  });

  it('upgrades the other records when one holds an event that is not JSON', async () => {
    const prefix = fresh();
    const old = new OldBuild(redis, prefix, HOUR);
    await writeOldCalls(old);
    await redis.hset(`${prefix}:call:broken`, 'event', '{not json', 'status', 'completed', 'finished_at', new Date().toISOString());
    expect(await upgradeStore(redis, prefix, HOUR, silent)).toEqual({ records: 5, upgraded: 5, legacyFailed: 2 });
    expect(await redis.get(`${prefix}:schema`)).toBe(String(SCHEMA_VERSION));
  });

  it('upgrades once when processes start together, and takes over from one that died holding the lock', async () => {
    const prefix = fresh();
    await writeOldCalls(new OldBuild(redis, prefix, HOUR));
    // A process that took the lock and died: it lapses, and the next process upgrades.
    await redis.set(`${prefix}:schema:lock`, 'dead-process', 'PX', 300);
    const [a, b] = await Promise.all([upgradeStore(redis, prefix, HOUR, silent), upgradeStore(redis, prefix, HOUR, silent)]);
    expect([a, b].filter(Boolean)).toEqual([{ records: 4, upgraded: 4, legacyFailed: 2 }]);
    expect(await redis.zcard(`${prefix}:idx:all`)).toBe(4);
    expect(await redis.exists(`${prefix}:schema:lock`)).toBe(0);
  });
});

describe('a rolling upgrade: old and new processes on one prefix', () => {
  const shared = useCallStore(__filename, HOUR);

  it('moves calls an old worker finished, or whose records are gone, out of the queued set', async () => {
    const { redis, prefix, store } = shared;
    const [finishedByOld, deleted, waiting] = [makeEvent(), makeEvent(), makeEvent()];
    // A new producer queued them (indexed as queued)...
    await store.markQueued([finishedByOld, deleted, waiting].map(serializeEvent));
    // ...an old worker finished one (its FINISH keeps no index), one record was deleted.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const finishedAt = new Date();
    await new OldBuild(redis, prefix, HOUR).finish(finishedByOld.call_id, 'default', 'notify', 'partial', finishedAt);
    await redis.del(`${prefix}:call:${deleted.call_id}`);
    const index = new CallIndex(redis, prefix, HOUR);
    const listed = async (status: 'queued' | 'partial') => (await index.list({ statuses: [status] }, 10)).rows.map((row) => row.call_id);
    // The list skips such entries already (their rows are gone, or of another status)...
    expect(await listed('queued')).toEqual([waiting.call_id]);
    expect(await listed('partial')).toEqual([]);

    // ...and the periodic trim takes them out, the finished one into its status and the feed.
    expect(await new ExpiredEntriesTrimmer(redis, prefix, HOUR).trim()).toBe(2);
    expect(await redis.zrange(`${prefix}:idx:status:queued`, 0, -1)).toEqual([waiting.call_id]);
    expect(await listed('partial')).toEqual([finishedByOld.call_id]);
    expect(Number(await redis.zscore(`${prefix}:idx:status:partial`, finishedByOld.call_id))).toBe(finishedAt.getTime());
    expect(Number(await redis.zscore(`${prefix}:idx:all`, finishedByOld.call_id))).toBe(finishedAt.getTime());
    expect(await store.failedSince({ ago: HOUR })).toEqual([finishedByOld.call_id]);
    const feed = await redis.xrange(`${prefix}:results`, '-', '+');
    expect(feed.map(([, fields]) => fields.slice(0, 4))).toEqual([['call_id', finishedByOld.call_id, 'status', 'partial']]);
    expect(await new ExpiredEntriesTrimmer(redis, prefix, HOUR).trim()).toBe(0);
  });

  it('keeps the record of a call an old producer queued while a new worker runs it', async () => {
    const { redis, prefix, store } = shared;
    const event = makeEvent({ calling_number: '5550100888' });
    await new OldBuild(redis, prefix, HOUR).queue(event);
    expect(await redis.pttl(`${prefix}:call:${event.call_id}`)).toBeGreaterThan(0);
    expect((await store.startRun(event.call_id))?.snapshot.has('nums')).toBe(true);
    expect(await redis.hmget(`${prefix}:call:${event.call_id}`, 'calling', 'called', 'nums')).toEqual(['5550100888', '1000', '5550100888,1000']);
    // A retry may wait longer than the TTL: the record stays until the call is final.
    expect(await redis.pttl(`${prefix}:call:${event.call_id}`)).toBe(-1);
  });

  it('gives a call an old producer queued its numbers when a new worker runs it', async () => {
    const receiver = await new Receiver().start();
    const h = await startHarness(__filename, `
policies:
  - id: default
    apps:
      - { name: Notify, method: POST, url: "${receiver.url}/notify" }
`);
    const connection = connectRedis();
    const queue = new Queue(QUEUE_NAME, { connection, prefix: h.prefix });
    try {
      // An old producer, after the new build's first start: a record without numbers, a job without the event.
      const event = makeEvent({ calling_number: '+1 555 010 0777', called_number: '2001' });
      await new OldBuild(h.runtime.redis as Redis, h.prefix, HOUR).queue(event);
      await queue.add(QUEUE_NAME, { call_id: event.call_id }, { jobId: jobIdFor(event.call_id) });
      expect((await h.waitForCall(event.call_id)).status).toBe('completed');
      const rows = (await h.request('GET', '/v1/calls?number=15550100777')).body.calls;
      expect(rows).toEqual([expect.objectContaining({ call_id: event.call_id, calling_number: '+1 555 010 0777', called_number: '2001', status: 'completed' })]);
    } finally {
      await queue.close();
      connection.disconnect();
      await h.stop();
      await receiver.stop();
    }
  });
});
