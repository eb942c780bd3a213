import type { RedisClient } from './call-store';

/**
 * Redis's `maxmemory-policy`, from INFO (which managed services that disable CONFIG still
 * answer), else from CONFIG GET; undefined when neither tells. On a cluster, one node's answer.
 */
export async function evictionPolicy(redis: RedisClient): Promise<string | undefined> {
  try {
    const policy = policyIn(await redis.info('memory'));
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

/** What one INFO says of eviction: the policy, and how many keys Redis evicted since it started. */
export interface EvictionReading {
  policy: string | undefined;
  evictedKeys: number | undefined;
}

/** One plain INFO: its default sections hold both `memory` (the policy) and `stats` (evicted_keys). */
export async function readEviction(redis: RedisClient): Promise<EvictionReading> {
  const info = await redis.info();
  const evicted = /^evicted_keys:(\d+)/m.exec(info)?.[1];
  return { policy: policyIn(info), evictedKeys: evicted === undefined ? undefined : Number(evicted) };
}

/** `maxmemory_policy` in an INFO answer. */
function policyIn(info: string): string | undefined {
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}

/** What an EvictionWatch tells as it sees it. */
export interface EvictionEvents {
  /** The policy changed: `problem` says why it loses calls, or is undefined for noeviction. */
  policyChanged(policy: string, problem: string | undefined): void;
  /** Redis evicted `count` keys since the last check. */
  keysEvicted(count: number): void;
}

/**
 * Watches a running Redis for eviction: the start-up check (checkEviction) cannot see an
 * operator's later `CONFIG SET maxmemory-policy allkeys-lru`, after which Redis silently dropped
 * call records and queued calls while everything said ready. One INFO per check; a Redis that
 * refuses INFO was warned about at start and is not watched.
 */
export class EvictionWatch {
  private reading: EvictionReading | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly events: EvictionEvents,
  ) {}

  /** Why Redis loses calls now (its policy evicts), as of the last check; undefined when it does not or nobody checked. */
  problem(): string | undefined {
    return evictionProblem(this.reading?.policy);
  }

  /** Throws while the policy evicts keys (as of the last check): the readiness probe's first step. */
  assertNotEvicting(): void {
    const problem = this.problem();
    if (problem) throw new RedisEvictsKeysError(problem, this.reading?.policy ?? '');
  }

  /**
   * Reads INFO once and tells what changed since the previous check. Before the first, the
   * policy is taken as noeviction (a writer refuses to start on any other); the first count of
   * evicted keys is where counting starts.
   */
  async check(): Promise<void> {
    const now = await readEviction(this.redis);
    const before = this.reading;
    this.reading = now;
    if (now.policy !== undefined && now.policy !== (before?.policy ?? 'noeviction')) this.events.policyChanged(now.policy, evictionProblem(now.policy));
    // A smaller count: Redis restarted, or CONFIG RESETSTAT. What it evicted before is not known.
    const grown = (now.evictedKeys ?? 0) - (before?.evictedKeys ?? 0);
    if (before?.evictedKeys !== undefined && grown > 0) this.events.keysEvicted(grown);
  }

  /**
   * Notes where things stand now, then checks every `everyMs`. `onError` hears the first check
   * that failed (Redis down, INFO refused), not each one after it until a check succeeds again.
   * A check still waiting for Redis is not joined by another.
   */
  async start(everyMs: number, onError: (error: Error) => void): Promise<void> {
    let running = false;
    let failing = false;
    const run = async () => {
      if (running) return;
      running = true;
      await this.check().then(
        () => (failing = false),
        (error: Error) => {
          if (!failing) onError(error);
          failing = true;
        },
      );
      running = false;
    };
    await run();
    this.timer = setInterval(() => void run(), everyMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Why a process is not ready while Redis's policy evicts keys; `detail` is what /readyz says of Redis. */
export class RedisEvictsKeysError extends Error {
  override name = 'RedisEvictsKeysError';
  readonly detail: string;

  constructor(problem: string, policy: string) {
    super(problem);
    this.detail = `evicts keys (maxmemory-policy ${policy}): set maxmemory-policy noeviction`;
  }
}
