import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { Redis } from 'ioredis';
import { CallStore } from '../../src/store/call-store';
import { deleteKeysWithPrefix } from '../../src/store/delete-prefix';

export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A key prefix no other test file or run uses, so tests share one Redis safely. */
export function uniquePrefix(testFile: string): string {
  return `test-${basename(testFile).replace(/\W+/g, '-')}-${randomBytes(4).toString('hex')}`;
}

export function connectRedis(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: null });
}

/** Deletes every key under `prefix` (never FLUSHALL: other suites share this Redis). */
export const deletePrefix = deleteKeysWithPrefix;

/**
 * A CallStore on the shared Redis under this test file's own prefix, for the tests of the
 * enclosing describe: connected before them, its keys deleted after them.
 */
export function useCallStore(testFile: string, ttlMs = 60_000): { readonly prefix: string; readonly redis: Redis; readonly store: CallStore } {
  const prefix = uniquePrefix(testFile);
  let redis: Redis | undefined;
  let store: CallStore | undefined;
  beforeAll(() => {
    redis = connectRedis();
    store = new CallStore(redis, prefix, ttlMs);
  });
  afterAll(async () => {
    await deletePrefix(redis!, prefix);
    await redis!.quit();
  });
  return {
    prefix,
    get redis() {
      return redis!;
    },
    get store() {
      return store!;
    },
  };
}
