import { Redis } from 'ioredis';
import { compareEntryIds } from '../../src/store/feed-waiter';
import { ResultsFeed } from '../../src/store/results-feed';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('long polls on the results feed', () => {
  const prefix = uniquePrefix(__filename);
  const redis = connectRedis();
  const opened: Redis[] = [];
  const connect = () => {
    const client = connectRedis();
    opened.push(client);
    return client;
  };
  const feed = new ResultsFeed(redis, prefix, connect);
  const append = async (callId: string) =>
    (await redis.xadd(feed.key, '*', 'call_id', callId, 'status', 'completed', 'call', JSON.stringify({ call_id: callId, status: 'completed' })))!;

  afterAll(async () => {
    feed.close();
    for (const client of opened) client.disconnect();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('share one blocking connection, and each wakes on the first entry after its position', async () => {
    const newest = await append('first');
    const reads = Array.from({ length: 50 }, () => feed.read(newest, 10, { ms: 20_000 }));
    await sleep(100);
    expect(feed.waiter!.size).toBe(50);
    const ahead = feed.read(`${Date.now() + 60_000}-0`, 10, { ms: 600 }); // a position past anything written
    const id = await append('second');
    for (const entries of await Promise.all(reads)) expect(entries.map((e) => [e.id, e.call.call_id])).toEqual([[id, 'second']]);
    expect(await ahead).toEqual([]);
    expect(opened).toHaveLength(1);
    expect(feed.waiter!.size).toBe(0);
  });

  it('a wait that starts just after an entry was written returns it', async () => {
    const before = await append('a');
    const later = await append('b');
    expect((await feed.read(before, 10, { ms: 5_000 })).map((e) => e.id)).toEqual([later]);
    // Several rounds of waits and entries, interleaved.
    for (let i = 0; i < 20; i++) {
      const at = (await redis.xrevrange(feed.key, '+', '-', 'COUNT', 1))[0]![0];
      const waiting = feed.read(at, 10, { ms: 5_000 });
      if (i % 2 === 0) await sleep(1);
      const id = await append(`r${i}`);
      expect((await waiting).map((e) => e.id)).toEqual([id]);
    }
  });

  it('a client that goes away ends its wait at once', async () => {
    const newest = await append('c');
    const clients = Array.from({ length: 20 }, () => new AbortController());
    const reads = clients.map((client) => feed.read(newest, 10, { ms: 20_000, signal: client.signal }));
    await sleep(50);
    expect(feed.waiter!.size).toBe(20);
    const t0 = Date.now();
    for (const client of clients) client.abort();
    expect(await Promise.all(reads)).toEqual(clients.map(() => []));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(feed.waiter!.size).toBe(0);
  });

  it('a failed blocking read fails the waits; the next wait opens a new connection', async () => {
    const refusing = new Redis(redisUrl(), { lazyConnect: true, enableOfflineQueue: false }); // never connected: every command fails
    const connections = [refusing, connectRedis()];
    const retried = new ResultsFeed(redis, prefix, () => connections.shift()!);
    const newest = await append('d');
    await expect(retried.read(newest, 10, { ms: 5_000 })).rejects.toThrow(/writeable|closed|connection/i);
    expect(retried.waiter!.size).toBe(0);
    const waiting = retried.read(newest, 10, { ms: 5_000 });
    await sleep(50);
    const id = await append('e');
    expect((await waiting).map((e) => e.id)).toEqual([id]);
    expect(connections).toHaveLength(0);
    retried.close();
  });

  it('a stream deleted under a waiting follower: a wait neither spins nor misses the next entry', async () => {
    const own = new ResultsFeed(redis, `${prefix}-gone`, connectRedis);
    await redis.xadd(own.key, '*', 'call', '{}');
    const keeper = own.read((await redis.xrevrange(own.key, '+', '-', 'COUNT', 1))[0]![0], 10, { ms: 5_000 }); // the follower now knows the newest id
    await sleep(50);
    await redis.del(own.key);
    const reads = jest.spyOn(redis, 'xrange');
    const waiting = own.read('0', 10, { ms: 5_000 });
    await sleep(300);
    const id = (await redis.xadd(own.key, '*', 'call', JSON.stringify({ call_id: 'after-delete' })))!;
    expect((await waiting).map((e) => e.id)).toEqual([id]);
    expect((await keeper).map((e) => e.id)).toEqual([id]);
    expect(reads.mock.calls.length).toBeLessThanOrEqual(5);
    reads.mockRestore();
    own.close();
    await redis.del(own.key);
  });

  it('closing ends the waits in progress, and any later one at once', async () => {
    const closing = new ResultsFeed(redis, prefix, connectRedis);
    const newest = await append('f');
    const waiting = closing.read(newest, 10, { ms: 20_000 });
    await sleep(50);
    const t0 = Date.now();
    closing.close();
    expect(await waiting).toEqual([]);
    expect(await closing.read(newest, 10, { ms: 20_000 })).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('orders entry ids by time, then sequence', () => {
    expect(compareEntryIds('1-0', '1')).toBe(0);
    expect(compareEntryIds('1-2', '1-10')).toBe(-1);
    expect(compareEntryIds('10-0', '9-99')).toBe(1);
    expect(compareEntryIds('18446744073709551615-0', '18446744073709551614-18446744073709551615')).toBe(1);
  });
});
