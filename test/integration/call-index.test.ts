import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { serializeEvent } from '../../src/events/schema';
import { CallIndex, type ListFilters } from '../../src/store/call-index';
import type { AppResult } from '../../src/model/call';
import { exportCalls } from '../../src/results/export';
import { CallStore } from '../../src/store/call-store';
import { ExpiredEntriesTrimmer } from '../../src/store/expiry';
import { makeEvent } from '../helpers/events';
import { useCallStore } from '../helpers/redis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CallIndex: one page read while calls change', () => {
  const shared = useCallStore(__filename);
  const { prefix } = shared;
  let redis: Redis;
  let store: CallStore;
  beforeAll(() => ({ redis, store } = shared));

  it('lists each call once although calls finish (move to the top, above the rows read) between its chunks', async () => {
    const events = Array.from({ length: 450 }, (_, i) => makeEvent({ call_id: `page-${String(i).padStart(3, '0')}` }));
    await store.markQueued(events.map(serializeEvent));
    // The real client, with calls finishing between the page's reads of the index (200 at a time).
    let reads = 0;
    const changing = new Proxy(redis, {
      get(target, name, receiver) {
        if (name !== 'zrevrangebyscore') return Reflect.get(target, name, receiver);
        return async (...args: unknown[]) => {
          if (reads++ > 0) {
            // The oldest calls finish (workers take calls in order): each moves above every row read.
            const oldest = await redis.zrange(`${prefix}:idx:all`, 0, 9);
            for (const id of oldest) await store.checkpoint(id, 'default').finish('completed');
          }
          return (target.zrevrangebyscore as (...a: unknown[]) => Promise<string[]>)(...args);
        };
      },
    });
    const page = await new CallIndex(changing, prefix, store.ttlMs).list({}, 450);
    const ids = page.rows.map((row) => row.call_id);
    expect(reads).toBeGreaterThan(2);
    expect(new Set(ids).size).toBe(ids.length);
  });

  // A batch of calls queued by one script shares one score: a tie group larger than a chunk.
  const queueBatch = async (tag: string, n: number) => {
    const events = Array.from({ length: n }, (_, i) => makeEvent({ call_id: `${tag}-${String(i).padStart(3, '0')}`, called_number: `77${tag.length}` }));
    await store.markQueued(events.map(serializeEvent));
    return events.map((e) => e.call_id).sort().reverse(); // newest first: ties in reverse id order
  };

  it('pages through a tie group larger than a chunk, each call once, in order', async () => {
    const ids = await queueBatch('tie', 450);
    const index = new CallIndex(redis, prefix, store.ttlMs);
    const listed: string[] = [];
    let after;
    do {
      const page = await index.list({ number: '773' }, 50, after);
      listed.push(...page.rows.map((row) => row.call_id));
      after = page.next ?? undefined;
    } while (after);
    expect(listed).toEqual(ids);
  });

  it('reads a tie group again, skipping what it read, when calls it read leave it between chunks', async () => {
    const ids = await queueBatch('move', 450);
    let reads = 0;
    const changing = new Proxy(redis, {
      get(target, name, receiver) {
        if (name !== 'zrevrangebyscore') return Reflect.get(target, name, receiver);
        return async (...args: unknown[]) => {
          if (reads++ === 1) for (const id of ids.slice(0, 5)) await store.checkpoint(id, 'default').finish('completed');
          return (target.zrevrangebyscore as (...a: unknown[]) => Promise<string[]>)(...args);
        };
      },
    });
    const page = await new CallIndex(changing, prefix, store.ttlMs).list({ number: '774' }, 450);
    const listed = page.rows.map((row) => row.call_id);
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed.filter((id) => !ids.slice(0, 5).includes(id))).toEqual(ids.slice(5));
  });

  it('lists a call id used again after its record expired once, under its new status, on one page or across pages', async () => {
    const ttl = 1500;
    const p = `${prefix}:reuse`;
    const reuse = new CallStore(redis, p, ttl);
    const index = new CallIndex(redis, p, ttl);
    const expired = async (id: string) => {
      while ((await redis.exists(`${p}:call:${id}`)) === 1) await sleep(50);
    };
    const finish = async (id: string, status: 'completed' | 'failed') => {
      await reuse.markQueued([serializeEvent(makeEvent({ call_id: id }))]);
      const state = await reuse.startRun(id);
      await reuse.checkpoint(id, null, undefined, state!.snapshot).finish(status);
    };
    const listed = async (statuses: ('completed' | 'failed' | 'partial')[], limit: number) => {
      const ids: string[][] = [];
      let after;
      do {
        const page = await index.list({ statuses }, limit, after);
        ids.push(page.rows.map((row) => `${row.call_id}:${row.status}`));
        after = page.next ?? undefined;
      } while (after);
      return ids.flat();
    };

    // Queued again: the first record's entry in the completed set is left (nothing removes an
    // expired record's entries at once), and is past the TTL, so it is not read.
    await finish('reuse-1', 'completed');
    await expired('reuse-1');
    await finish('reuse-1', 'failed');
    expect(await redis.zscore(`${p}:idx:status:completed`, 'reuse-1')).not.toBeNull();
    expect(await listed(['completed', 'failed'], 50)).toEqual(['reuse-1:failed']);

    // A real-time call the same way.
    await expired('reuse-1');
    const event = makeEvent({ call_id: 'reuse-1' });
    const claim = await reuse.claimRealtime(event);
    const result: AppResult = { status: 'success', http_status: 200, data: null, message: '', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };
    await reuse.saveRealtimeResults('reuse-1', 'rt', { caller: result }, claim);
    expect(await listed(['completed', 'failed'], 50)).toEqual(['reuse-1:completed']);

    // An entry left behind within the TTL (a record deleted by hand): the id is listed from the
    // set its status puts it in, once, whether the page ends between them or not.
    const score = Number(await redis.zscore(`${p}:idx:status:completed`, 'reuse-1'));
    await redis.zadd(`${p}:idx:status:partial`, score - 1, 'reuse-1');
    await finish('other-1', 'failed');
    for (const limit of [1, 2, 50]) expect(await listed(['completed', 'failed', 'partial'], limit)).toEqual(['other-1:failed', 'reuse-1:completed']);
  });

  it('after the TTL, with no new writes: no row, no cursor and no dead entry read; a periodic trim empties the indexes and the feed', async () => {
    const ttl = 1500;
    const p = `${prefix}:ttl`;
    const expiring = new CallStore(redis, p, ttl);
    const events = Array.from({ length: 40 }, (_, i) => makeEvent({ call_id: `ttl-${i}`, called_number: '7000' }));
    await expiring.markQueued(events.map(serializeEvent));
    for (const [i, { call_id }] of events.slice(0, 30).entries()) {
      const state = await expiring.startRun(call_id);
      await expiring.checkpoint(call_id, 'sales', undefined, state!.snapshot).finish(i % 2 ? 'completed' : 'failed');
    }
    // The 30 finished records expire; the 10 queued ones keep theirs.
    while ((await redis.exists(...events.slice(0, 30).map((e) => `${p}:call:${e.call_id}`))) > 0) await sleep(50);
    expect(await redis.zcard(`${p}:idx:all`)).toBe(40);
    expect(await redis.xlen(`${p}:results`)).toBe(30);

    let read = 0; // index entries the reads brought back
    const counting = new Proxy(redis, {
      get(target, name, receiver) {
        if (name !== 'zrevrangebyscore' && name !== 'zrangebyscore') return Reflect.get(target, name, receiver);
        return async (...args: unknown[]) => {
          const flat = await (target[name] as (...a: unknown[]) => Promise<string[]>)(...args);
          read += flat.length / 2;
          return flat;
        };
      },
    });
    const index = new CallIndex(counting, p, ttl);
    const filters: ListFilters[] = [{}, { statuses: ['completed', 'failed'] }, { policy: 'sales' }, { number: '7000', statuses: ['completed'] }];
    for (const filter of filters) expect(await index.list(filter, 5)).toEqual({ rows: [], next: null });
    const out = new Writable({ write: (_chunk, _encoding, done) => done() });
    expect(await exportCalls(counting, p, expiring, { since: { at: 0 }, format: 'ndjson', out })).toEqual({ calls: 0 });
    expect(read).toBe(0);
    // Queued calls keep their records, and their place in the queued set, however long they wait.
    expect((await index.list({ statuses: ['queued'] }, 50)).rows.map((row) => row.call_id).sort()).toEqual(events.slice(30).map((e) => e.call_id).sort());

    const trimmer = new ExpiredEntriesTrimmer(redis, p, ttl, ['sales']);
    const errors: Error[] = [];
    trimmer.start(100, (error) => errors.push(error));
    try {
      for (let i = 0; i < 100 && (await redis.exists(`${p}:idx:all`)) === 1; i++) await sleep(50);
    } finally {
      trimmer.stop();
    }
    expect(errors).toEqual([]);
    for (const name of ['all', 'status:completed', 'status:failed', 'policy:sales']) expect(await redis.zcard(`${p}:idx:${name}`)).toBe(0);
    expect(await redis.xlen(`${p}:results`)).toBe(0);
    expect(await redis.zcard(`${p}:idx:status:queued`)).toBe(10);
    expect(await trimmer.trim()).toBe(0);
  });
});
