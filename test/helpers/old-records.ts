import type { Redis, Cluster } from 'ioredis';
import type { CallEvent } from '../../src/events/schema';

/**
 * Call records as callhook wrote them before its indexes (commit 89f72c5, the build before
 * b157a4d): the same commands its scripts ran, so an upgrade is tested on the data an operator has.
 * No numbers in the record, no `idx:*` entries, failed and partial calls in `<prefix>:failed-calls`,
 * a TTL at every write (queued and running calls too).
 */
export class OldBuild {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  private key(callId: string): string {
    return `${this.prefix}:call:${callId}`;
  }

  /** MARK_QUEUED. */
  async queue(event: CallEvent, at = new Date()): Promise<void> {
    const key = this.key(event.call_id);
    await this.redis.hsetnx(key, 'queued_at', at.toISOString());
    await this.redis.hset(key, 'event', JSON.stringify(event), 'status', 'queued');
    await this.redis.hdel(key, 'finished_at');
    await this.redis.hsetnx(key, 'created_at', at.toISOString());
    await this.redis.pexpire(key, this.ttlMs);
  }

  /** START_RUN, then CHECKPOINT of a pending attempt (a call waiting for its retry). */
  async retrying(callId: string, policy: string, slug: string): Promise<void> {
    const key = this.key(callId);
    await this.redis.hset(key, 'status', 'running');
    await this.redis.hset(key, 'policy', policy, `p:${slug}`, '1');
    await this.redis.pexpire(key, this.ttlMs);
  }

  /** START_RUN, then FINISH with the app's result. */
  async finish(callId: string, policy: string, slug: string, status: 'completed' | 'partial' | 'failed', at = new Date()): Promise<void> {
    const key = this.key(callId);
    await this.redis.hset(key, 'status', 'running');
    const ok = status === 'completed';
    // AppResult as 89f72c5 stored it: no attempts_log, no request.
    const result = { status: ok ? 'success' : 'failed', http_status: ok ? 200 : 500, data: null, message: ok ? 'HTTP 200 in 5 ms' : 'HTTP 500', attempts: 1, duration_ms: 5, unresolved: [], error: ok ? null : { code: 'CALLHOOK_HTTP_STATUS', message: 'HTTP 500' } };
    await this.redis.hset(key, 'status', status, 'finished_at', at.toISOString(), 'policy', policy, `r:${slug}`, JSON.stringify(result));
    await this.redis.hdel(key, `p:${slug}`);
    await this.redis.pexpire(key, this.ttlMs);
    if (status !== 'completed') {
      await this.redis.zadd(`${this.prefix}:failed-calls`, at.getTime(), callId);
      await this.redis.zremrangebyscore(`${this.prefix}:failed-calls`, '-inf', at.getTime() - this.ttlMs);
    }
  }
}
