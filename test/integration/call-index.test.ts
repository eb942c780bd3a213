import type { Redis } from 'ioredis';
import { serializeEvent } from '../../src/events/schema';
import { CallIndex } from '../../src/store/call-index';
import type { CallStore } from '../../src/store/call-store';
import { makeEvent } from '../helpers/events';
import { useCallStore } from '../helpers/redis';

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
});
