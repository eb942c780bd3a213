import type { RedisClient } from './call-store';

/**
 * Redis's `maxmemory-policy`, from INFO (which managed services that disable CONFIG still
 * answer), else from CONFIG GET; undefined when neither tells. On a cluster, one node's answer.
 */
export async function evictionPolicy(redis: RedisClient): Promise<string | undefined> {
  try {
    const info = await redis.info('memory');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy) return policy;
  } catch {
    // fall through to CONFIG GET
  }
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as string[];
    return policy || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether this Redis may evict callhook's keys: a problem (refuse to start), a warning (it would
 * not say: check it by hand), or neither.
 */
export async function checkEviction(redis: RedisClient): Promise<{ problem?: string; warning?: string }> {
  const policy = await evictionPolicy(redis);
  if (policy === undefined) {
    return { warning: 'could not read Redis maxmemory-policy (INFO and CONFIG refused): make sure it is noeviction, or Redis may silently evict call records and queued calls' };
  }
  const problem = evictionProblem(policy);
  return problem ? { problem } : {};
}

/**
 * Why this Redis would lose calls, or nothing. With any policy but `noeviction`, Redis evicts
 * keys when memory is full: call records (they carry a TTL, so `volatile-*` takes them first) or
 * BullMQ's own keys, silently.
 */
export function evictionProblem(policy: string | undefined): string | undefined {
  if (policy === undefined || policy === 'noeviction') return undefined;
  return `Redis maxmemory-policy is ${policy}: when memory is full it would silently evict call records and queued calls. Set maxmemory-policy noeviction (Redis then refuses writes and callhook answers 503)`;
}
