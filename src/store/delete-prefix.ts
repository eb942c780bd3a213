import type { Redis } from 'ioredis';

/**
 * Deletes every key under `prefix:` with SCAN + UNLINK (never KEYS or FLUSHALL: the Redis may
 * hold other deployments' keys). Used by the demo, the tests and the benchmarks to clean up.
 */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}
