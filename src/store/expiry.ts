// The client type from ioredis, not call-store's alias: the call store reads Redis's clock here.
import type { Cluster, Redis } from 'ioredis';
import { FINAL_STATUSES, isFinal, type CallStatus } from '../model/call';
import { SWEEP_QUEUED } from './scripts';

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

/** Entries of the queued set one trim checks against their records (see sweepQueued). */
const QUEUED_PAGE = 500;

interface TrimScript {
  callhookTrimExpired(keyCount: number, ...args: (string | number)[]): Promise<[number, number]>;
  callhookSweepQueued(queued: string, ...args: (string | number)[]): Promise<number>;
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
 * Each trim also checks one page of the queued set against the records (sweepQueued).
 */
export class ExpiredEntriesTrimmer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  /** Where the next page of the queued set starts (a ZSCAN cursor: each trim goes on from the last). */
  private queuedCursor = '0';

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly policies: readonly string[] = [],
  ) {
    if (!('callhookTrimExpired' in redis)) {
      redis.defineCommand('callhookTrimExpired', { lua: TRIM_EXPIRED });
      redis.defineCommand('callhookSweepQueued', { numberOfKeys: 1, lua: SWEEP_QUEUED });
    }
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
      if (!more || this.stopped) break;
    }
    return removed + (this.stopped ? 0 : await this.sweepQueued());
  }

  /**
   * One page of the queued set (from where the last one ended), its entries checked against
   * their records: an entry whose record is gone or final leaves the set, and a final call is
   * indexed under its status (SWEEP_QUEUED). Calls that end without this build's scripts (an
   * older worker in a rolling upgrade, a deleted or evicted record) otherwise stayed in it
   * forever. Costs a ZSCAN and one pipelined read per page; a write only for such entries.
   * Answers the entries removed.
   */
  async sweepQueued(): Promise<number> {
    const queued = `${this.prefix}:idx:status:queued`;
    const [next, flat] = await this.redis.zscan(queued, this.queuedCursor, 'COUNT', QUEUED_PAGE);
    this.queuedCursor = next;
    const ids = flat.filter((_, i) => i % 2 === 0);
    if (ids.length === 0) return 0;
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(`${this.prefix}:call:${id}`, 'status', 'finished_at');
    const records = ((await pipeline.exec()) ?? []).map(([error, fields]) => {
      if (error) throw error;
      return fields as [string | null, string | null];
    });
    const args: (string | number)[] = [];
    for (const [i, [status, finishedAt]] of records.entries()) {
      if (status && !isFinal(status as CallStatus)) continue;
      args.push(ids[i]!, status ?? '', (finishedAt && Date.parse(finishedAt)) || Date.now());
    }
    if (args.length === 0) return 0;
    return (this.redis as unknown as TrimScript).callhookSweepQueued(queued, this.ttlMs, this.prefix, ...args);
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
