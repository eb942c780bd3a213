// The client type from ioredis, not call-store's alias: the call store reads Redis's clock here.
import type { Cluster, Redis } from 'ioredis';
import { FINAL_STATUSES } from '../model/call';

/** Now by Redis's clock (epoch ms): the clock the index scores, their trims and the feed's entry ids come from. */
export async function redisNowMs(redis: Redis | Cluster): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * Lua: removes what is older than the TTL by Redis's clock from sorted sets scored in ms and from
 * the results stream, at most ARGV[2] entries per key (a long idle backlog goes over several
 * scripts, so Redis serves others between them). KEYS: the sets, then the stream. ARGV: ttl ms,
 * budget. Returns {entries removed, 1 when a key may have more}.
 */
const TRIM_EXPIRED = `
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
local removed, more = 0, 0
for i = 1, #KEYS - 1 do
  local old = redis.call('ZCOUNT', KEYS[i], '-inf', '(' .. tostring(cutoff))
  if old > budget then old = budget; more = 1 end
  if old > 0 then removed = removed + redis.call('ZREMRANGEBYRANK', KEYS[i], 0, old - 1) end
end
local trimmed = redis.call('XTRIM', KEYS[#KEYS], 'MINID', '~', tostring(cutoff), 'LIMIT', budget)
if trimmed >= budget then more = 1 end
return {removed + trimmed, more}`;

/** Entries one trim script removes per key at most. */
const TRIM_BUDGET = 10_000;

interface TrimScript {
  callhookTrimExpired(keyCount: number, ...args: (string | number)[]): Promise<[number, number]>;
}

/**
 * Trims the indexes and the results feed of what is older than the TTL, whether or not anything
 * is written: the scripts that write a call trim them as they go (see scripts.ts), so without new
 * calls the entries of expired records stayed, and the feed kept their calls' JSON. Trimmed:
 * `idx:all`, the final statuses' sets, the configured policies' sets and the feed. Not the queued
 * set (queued and running calls keep their records however long they wait), nor the number sets
 * (one per number seen: an idle one expires, see REINDEX; the list reads none of their entries
 * older than the TTL). Cheap when there is nothing to trim (a ZCOUNT per set), atomic per script
 * and idempotent, so every process may run it.
 */
export class ExpiredEntriesTrimmer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly policies: readonly string[] = [],
  ) {
    if (!('callhookTrimExpired' in redis)) redis.defineCommand('callhookTrimExpired', { lua: TRIM_EXPIRED });
  }

  /** Trims until nothing older than the TTL is left; answers the number of entries removed. */
  async trim(): Promise<number> {
    const key = (suffix: string) => `${this.prefix}:${suffix}`;
    const keys = [
      key('idx:all'),
      ...FINAL_STATUSES.map((status) => key(`idx:status:${status}`)),
      ...this.policies.map((policy) => key(`idx:policy:${policy}`)),
      key('results'),
    ];
    let removed = 0;
    for (;;) {
      const [count, more] = await (this.redis as unknown as TrimScript).callhookTrimExpired(keys.length, ...keys, this.ttlMs, TRIM_BUDGET);
      removed += count;
      if (!more || this.stopped) return removed;
    }
  }

  /**
   * Trims every `everyMs` (the first time at a random point of the first interval, so processes
   * started together do not trim together); `onError` hears a trim that failed.
   */
  start(everyMs: number, onError: (error: Error) => void): void {
    const run = () => {
      if (this.running || this.stopped) return;
      this.running = this.trim()
        .catch(onError)
        .finally(() => (this.running = undefined));
    };
    this.timer = setTimeout(() => {
      run();
      this.timer = setInterval(run, everyMs).unref();
    }, Math.floor(Math.random() * everyMs)).unref();
  }

  /**
   * Stops the timer, and a trim in progress after its script. Not waited for: with Redis down
   * its script waits for a connection, and closing the connection ends it.
   */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.timer);
  }
}
