import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { Redis } from 'ioredis';
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
