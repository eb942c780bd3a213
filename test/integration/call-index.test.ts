import type { Redis } from 'ioredis';
import { serializeEvent } from '../../src/events/schema';
import { CallIndex } from '../../src/store/call-index';
import type { AppResult } from '../../src/model/call';
import { CallStore } from '../../src/store/call-store';
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
    const page = await new CallIndex(changing, prefix).list({}, 450);
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
    const index = new CallIndex(redis, prefix);
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
    const page = await new CallIndex(changing, prefix).list({ number: '774' }, 450);
    const listed = page.rows.map((row) => row.call_id);
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed.filter((id) => !ids.slice(0, 5).includes(id))).toEqual(ids.slice(5));
  });

  it('lists a call id used again after its record expired once, under its new status, on one page or across pages', async () => {
    const ttl = 1500;
    const p = `${prefix}:reuse`;
    const reuse = new CallStore(redis, p, ttl);
    const index = new CallIndex(redis, p);
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

    // Queued again: the first record's entry in the completed set goes.
    await finish('reuse-1', 'completed');
    await expired('reuse-1');
    await finish('reuse-1', 'failed');
    expect(await redis.zscore(`${p}:idx:status:completed`, 'reuse-1')).toBeNull();
    expect(await listed(['completed', 'failed'], 50)).toEqual(['reuse-1:failed']);

    // A real-time call: its claim takes the id out of the status sets.
    await expired('reuse-1');
    const event = makeEvent({ call_id: 'reuse-1' });
    const claim = await reuse.claimRealtime(event);
    const result: AppResult = { status: 'success', http_status: 200, data: null, message: '', attempts: 1, duration_ms: 1, unresolved: [], error: null, attempts_log: [], request: null };
    await reuse.saveRealtimeResults('reuse-1', 'rt', { caller: result }, claim);
    expect(await redis.zscore(`${p}:idx:status:failed`, 'reuse-1')).toBeNull();
    expect(await listed(['completed', 'failed'], 50)).toEqual(['reuse-1:completed']);

    // An entry left behind anyhow (a record deleted by hand, a Redis of an older callhook): the
    // id is listed from the set its status puts it in, once, whether the page ends between them or not.
    const score = Number(await redis.zscore(`${p}:idx:status:completed`, 'reuse-1'));
    await redis.zadd(`${p}:idx:status:partial`, score - 1, 'reuse-1');
    await finish('other-1', 'failed');
    for (const limit of [1, 2, 50]) expect(await listed(['completed', 'failed', 'partial'], limit)).toEqual(['other-1:failed', 'reuse-1:completed']);
  });
});
