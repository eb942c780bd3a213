import type { Redis } from 'ioredis';
import { serializeEvent } from '../../src/events/schema';
import { CallStore } from '../../src/store/call-store';
import { makeEvent } from '../helpers/events';
import { connectRedis, deletePrefix, uniquePrefix } from '../helpers/redis';

describe('CallStore.markQueued', () => {
  const prefix = uniquePrefix(__filename);
  let redis: Redis;
  let store: CallStore;
  beforeAll(() => {
    redis = connectRedis();
    store = new CallStore(redis, prefix, 60_000);
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

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
  });

  it('answers duplicate for a call that has started or finished', async () => {
    const event = makeEvent();
    await store.markQueued([serializeEvent(event)]);
    await store.startRun(event.call_id);
    expect(await store.markQueued([serializeEvent(event)])).toEqual(['duplicate']);
    await store.checkpoint(event.call_id, 'default').finish('completed');
    expect(await store.markQueued([serializeEvent(event)])).toEqual(['duplicate']);
  });
});
