import type { CallRecord, CallStatus } from '../model/call';
import type { RedisClient } from './call-store';
import { FeedWaiter } from './feed-waiter';

/** Each part of a stream entry id (`<ms>-<seq>`) is an unsigned 64-bit number. */
export const MAX_ENTRY_ID_PART = 2n ** 64n - 1n;
/** The largest stream entry id Redis has. */
const LAST_ID = `${MAX_ENTRY_ID_PART}-${MAX_ENTRY_ID_PART}`;

/** One entry of the results feed: a call as it was when it reached a final status. */
export interface FeedEntry {
  /** The stream entry id (`<ms>-<seq>`): where to resume after this entry. */
  id: string;
  call: CallRecord;
}

/** Redis stream entries as ioredis returns them: [id, [field, value, ...]]. */
type RawEntries = [string, string[]][];

/**
 * The results feed, `<prefix>:results`: a Redis Stream with one entry per final status, written
 * by the script that writes the status (store/scripts.ts), trimmed to the result TTL. Read it
 * from a position (XREAD), or shared by a consumer group (XREADGROUP): each entry to one
 * consumer, acknowledged once handled, handed to another consumer when its reader dies.
 */
export class ResultsFeed {
  readonly key: string;
  /** Long polls (`read` with `wait`); undefined without a way to open a blocking connection. */
  readonly waiter: FeedWaiter | undefined;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    /** Opens the one connection the long polls of this process share (XREAD BLOCK holds it). */
    connectBlocking?: () => RedisClient,
  ) {
    this.key = `${prefix}:results`;
    this.waiter = connectBlocking && new FeedWaiter(redis, this.key, connectBlocking);
  }

  /**
   * Entries after `after` (exclusive; `0` for the oldest kept), at most `limit`. With `wait`,
   * waits up to `wait.ms` for one when there are none, or until `wait.signal` aborts.
   */
  async read(after: string, limit: number, wait?: { ms: number; signal?: AbortSignal }): Promise<FeedEntry[]> {
    // Nothing can follow the largest id, and Redis refuses it as an exclusive start.
    if (after === LAST_ID) return [];
    const deadline = Date.now() + (wait?.ms ?? 0);
    let from = after;
    for (;;) {
      const entries = parseEntries(await this.redis.xrange(this.key, `(${after}`, '+', 'COUNT', limit));
      const left = deadline - Date.now();
      if (entries.length > 0 || !this.waiter || left <= 0) return entries;
      const newer = await this.waiter.until(from, left, wait?.signal);
      if (newer === undefined) return [];
      // Read again. Should the entries that woke it be gone already (trimmed, the stream
      // deleted), wait past them rather than be woken by them again.
      from = newer;
    }
  }

  /** Ends the long polls in progress and closes their connection. */
  close(): void {
    this.waiter?.close();
  }

  /** Creates the consumer group at `start` (an entry id, `0` for the oldest kept) unless it exists. */
  async ensureGroup(group: string, start: string): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.key, group, start, 'MKSTREAM');
    } catch (error) {
      if (!/BUSYGROUP/.test((error as Error).message)) throw error;
    }
  }

  /** New entries for `consumer` of `group`, waiting up to `blockMs` for one (on `blocking`). */
  async readGroup(blocking: RedisClient, group: string, consumer: string, count: number, blockMs: number): Promise<FeedEntry[]> {
    const answer = (await blocking.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.key, '>')) as [string, RawEntries][] | null;
    return parseEntries(answer?.[0]?.[1] ?? []);
  }

  /**
   * Entries another consumer of `group` read but did not acknowledge for `minIdleMs` (it died):
   * they become `consumer`'s.
   */
  async claimStale(group: string, consumer: string, minIdleMs: number, count: number): Promise<FeedEntry[]> {
    const claimed: FeedEntry[] = [];
    let start = '0-0';
    do {
      const [next, entries] = (await this.redis.xautoclaim(this.key, group, consumer, minIdleMs, start, 'COUNT', count)) as [string, RawEntries, ...unknown[]];
      claimed.push(...parseEntries(entries));
      start = next;
    } while (start !== '0-0' && claimed.length < count);
    return claimed;
  }

  /** Removes `consumer` from `group`, unless it holds entries still pending (they would go with it). */
  async leaveGroup(group: string, consumer: string): Promise<boolean> {
    const pending = (await this.redis.xpending(this.key, group, '-', '+', 1, consumer)) as unknown[];
    if (pending.length > 0) return false;
    await this.redis.xgroup('DELCONSUMER', this.key, group, consumer);
    return true;
  }

  async ack(group: string, ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xack(this.key, group, ...ids);
  }
}

/** Entries as stored (`call_id`, `status`, `call` as JSON); an entry trimmed under a pending reader (null fields) is dropped. */
function parseEntries(raw: RawEntries): FeedEntry[] {
  const entries: FeedEntry[] = [];
  for (const [id, fields] of raw) {
    const at = fields?.indexOf('call') ?? -1;
    if (at < 0) continue;
    entries.push({ id, call: JSON.parse(fields[at + 1]!) as CallRecord });
  }
  return entries;
}

/** Statuses a feed entry can carry. */
export type FeedStatus = Exclude<CallStatus, 'queued' | 'running'>;
