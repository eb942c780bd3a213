import type { RedisClient } from './call-store';

/** How long one blocking read lasts: the follower stops this long at most after its last waiter left. */
const FOLLOW_BLOCK_MS = 5_000;

interface Waiter {
  after: string;
  /** With the id of an entry after `after`, or undefined (timed out, client gone, closed). */
  done(newer: string | undefined): void;
  fail(error: unknown): void;
}

/**
 * Long polls on the results feed, all on one blocking Redis connection per process. A connection
 * per long poll let each waiting request hold a Redis connection until its `wait` ran out, even
 * after its client had gone: a consumer retrying on a short client timeout piled connections up
 * to Redis's `maxclients`, and the workers could no longer connect.
 *
 * While anyone waits, one follower reads the stream's new entries (XREAD BLOCK from the newest id
 * it knows) and wakes each waiter whose position is older than that id.
 */
export class FeedWaiter {
  private readonly waiters = new Set<Waiter>();
  private blocking: RedisClient | undefined;
  private following = false;
  private closed = false;
  /** The newest entry id the follower has seen; undefined while nobody waits. */
  private newest: string | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly connect: () => RedisClient,
  ) {}

  /** Requests waiting now. */
  get size(): number {
    return this.waiters.size;
  }

  /**
   * Resolves with the id of an entry after `after` once the feed holds one (call it after a read
   * found none), undefined after `ms` or when `signal` aborts (the client went away). Rejects
   * when the follower's Redis read fails.
   */
  until(after: string, ms: number, signal?: AbortSignal): Promise<string | undefined> {
    if (signal?.aborted || this.closed) return Promise.resolve(undefined);
    if (this.newest !== undefined && compareEntryIds(after, this.newest) < 0) return Promise.resolve(this.newest);
    return new Promise<string | undefined>((resolve, reject) => {
      const timer = setTimeout(() => waiter.done(undefined), ms);
      const abort = () => waiter.done(undefined);
      const leave = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        return this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        after,
        done: (newer) => {
          if (leave()) resolve(newer);
        },
        fail: (error) => {
          if (leave()) reject(error);
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', abort, { once: true });
      if (!this.following) void this.follow();
    });
  }

  /** Ends every wait (undefined), and any later one at once, and closes the blocking connection. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiters) waiter.done(undefined);
    this.blocking?.disconnect();
    this.blocking = undefined;
  }

  private async follow(): Promise<void> {
    this.following = true;
    try {
      const [latest] = (await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1)) as [string, string[]][];
      this.seen(latest?.[0] ?? '0-0');
      if (this.waiters.size === 0 || this.closed) return; // no connection opened after close()
      const blocking = (this.blocking ??= this.connect());
      while (this.waiters.size > 0) {
        const answer = (await blocking.xread('COUNT', 1, 'BLOCK', FOLLOW_BLOCK_MS, 'STREAMS', this.key, this.newest!)) as [string, [string, string[]][]][] | null;
        const id = answer?.[0]?.[1]?.[0]?.[0];
        if (id) this.seen(id);
      }
    } catch (error) {
      for (const waiter of this.waiters) waiter.fail(error);
      this.blocking?.disconnect();
      this.blocking = undefined;
    } finally {
      this.following = false;
      this.newest = undefined;
    }
  }

  /** The feed holds `id`: wake every waiter positioned before it. */
  private seen(id: string): void {
    this.newest = id;
    for (const waiter of this.waiters) if (compareEntryIds(waiter.after, id) < 0) waiter.done(id);
  }
}

/** Orders stream entry ids (`<ms>-<seq>`, or `<ms>` for `<ms>-0`). */
export function compareEntryIds(a: string, b: string): number {
  const [aMs, aSeq = '0'] = a.split('-');
  const [bMs, bSeq = '0'] = b.split('-');
  const byMs = BigInt(aMs!) - BigInt(bMs!);
  const diff = byMs !== 0n ? byMs : BigInt(aSeq) - BigInt(bSeq);
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}
