import type { AppStatus, CallStatus } from '../model/call';
import { callLockKey } from './job-keys';
import { callKey, shownStatus, type RedisClient } from './call-store';
import { resolveTimeBound, type TimeBound } from '../util/duration';
import { redisNowMs } from './expiry';
import { numberKey } from './numbers';
import { LIST_ROWS } from './scripts';

/** One call in a list: what a row shows. */
export interface CallRow {
  call_id: string;
  policy: string | null;
  status: CallStatus;
  calling_number: string;
  called_number: string;
  created_at: string;
  finished_at: string | null;
  /** Each app's status, in the order its result was stored. */
  apps: Record<string, AppStatus>;
}

export interface ListFilters {
  /** Any of these statuses. */
  statuses?: readonly CallStatus[] | undefined;
  policy?: string | undefined;
  /** Matches the calling or the called number, exactly or by digits. */
  number?: string | undefined;
  /** Last change at or after (a duration back from now by Redis's clock, as the scores are). */
  since?: TimeBound | undefined;
  /** Last change at or before. */
  until?: TimeBound | undefined;
}

/** Where a page ended: the last call's last-change score and id (ties are ordered by id). */
export interface Position {
  score: number;
  id: string;
}

/** A position as read from one index; `status`: the status set it came from (none for the other indexes). */
interface Entry extends Position {
  status?: string | undefined;
}

export interface ListPage {
  rows: CallRow[];
  /** Where the next page starts; null when there is no more. */
  next: Position | null;
}

/** Calls examined per request at most: a sparse combination of filters answers a short page and a cursor instead of scanning on. */
const SCAN_BUDGET = 5000;
const CHUNK = 200;

/**
 * The list query over the indexes the store's scripts keep (sorted sets by last change): newest
 * first, from one index per request (a status, a number, a policy, or all calls), the other
 * filters checked per call. A page costs what its calls cost, whatever the number of records.
 * Entries older than the TTL (by Redis's clock) are not read, but the queued set's: their
 * records have expired, and the trims that remove them run only now and then (see
 * ExpiredEntriesTrimmer); reading them made a page of nothing and a cursor to another.
 */
export class CallIndex {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** How long a final call's record is kept (ms). */
    private readonly ttlMs: number,
  ) {
    if (!('callhookListRows' in redis)) redis.defineCommand('callhookListRows', { lua: LIST_ROWS });
  }

  async list(filters: ListFilters, limit: number, after?: Position): Promise<ListPage> {
    const [{ driving, checks }, now] = await Promise.all([this.plan(filters), redisNowMs(this.redis)]);
    const since = filters.since && resolveTimeBound(filters.since, now);
    const until = filters.until && resolveTimeBound(filters.until, now);
    const drivers = driving.map((key) => {
      const status = this.statusOf(key);
      // Queued and running calls keep their records however long they wait.
      const oldest = Math.max(since ?? -Infinity, status === 'queued' ? -Infinity : now - this.ttlMs);
      return new IndexCursor(this.redis, key, status, oldest, until, after);
    });
    // The ids this page read: an id in two of the sets it merges is listed once.
    const seen = new Set<string>();
    const rows: CallRow[] = [];
    let examined = 0;
    let last: Position | undefined;
    let leftover = false;
    while (rows.length < limit && examined < SCAN_BUDGET) {
      // Sparse filters examine more calls than they list: read ahead, up to a chunk.
      const batch = await takeNewest(drivers, Math.min(CHUNK, Math.max(limit - rows.length, 50), SCAN_BUDGET - examined), seen);
      if (batch.length === 0) return { rows, next: null };
      examined += batch.length;
      const matched = await this.matching(batch, filters, checks);
      for (const [i, row] of matched.entries()) {
        last = batch[i];
        if (!row) continue;
        rows.push(row);
        if (rows.length === limit) {
          leftover = i < batch.length - 1;
          break;
        }
      }
    }
    // A cursor only when something is left after `last`: never one that leads to an empty page.
    const more = leftover || (await Promise.all(drivers.map((d) => d.hasMore()))).some(Boolean);
    return { rows, next: more ? { score: last!.score, id: last!.id } : null };
  }

  /** The status whose set `key` is, or undefined for the other indexes. */
  private statusOf(key: string): string | undefined {
    const set = `${this.prefix}:idx:status:`;
    return key.startsWith(set) ? key.slice(set.length) : undefined;
  }

  /**
   * Each filter as index sets a call must be in (one of); the filter with the fewest calls is read
   * (ZCARD), the others are checked per call (ZSCORE). Running calls are in the `queued` set.
   */
  private async plan(filters: ListFilters): Promise<{ driving: string[]; checks: string[][] }> {
    const key = (suffix: string) => `${this.prefix}:idx:${suffix}`;
    const groups: string[][] = [];
    if (filters.number) groups.push([key(`number:${numberKey(filters.number)}`)]);
    if (filters.statuses?.length) groups.push([...new Set(filters.statuses.map((s) => key(`status:${s === 'running' ? 'queued' : s}`)))]);
    if (filters.policy) groups.push([key(`policy:${filters.policy}`)]);
    if (groups.length === 0) return { driving: [key('all')], checks: [] };
    if (groups.length === 1) return { driving: groups[0]!, checks: [] };
    const pipeline = this.redis.pipeline();
    for (const group of groups) for (const k of group) pipeline.zcard(k);
    const cards = ((await pipeline.exec()) ?? []).map(([, n]) => Number(n));
    let at = 0;
    const sizes = groups.map((group) => group.reduce((sum) => sum + (cards[at++] ?? 0), 0));
    const smallest = sizes.indexOf(Math.min(...sizes));
    return { driving: groups[smallest]!, checks: groups.filter((_, i) => i !== smallest) };
  }

  /**
   * The rows of `entries` (in order) that pass every filter; null for the others, for expired
   * records, and for an entry of a status set the call is no longer in by its status (one an
   * earlier record of its id left, or one it left while the page was read: it is listed from
   * the set it is in now, at its last change).
   */
  private async matching(entries: Entry[], filters: ListFilters, checks: string[][]): Promise<(CallRow | null)[]> {
    const ids = entries.map((entry) => entry.id);
    const members = await this.inEveryGroup(ids, checks);
    const kept = ids.filter((_, i) => members[i]);
    const keys = [...kept.map((id) => callKey(this.prefix, id)), ...kept.map((id) => callLockKey(this.prefix, id))];
    const flat = kept.length === 0 ? [] : await (this.redis as unknown as ListRowsScript).callhookListRows(keys.length, ...keys);
    const rows = new Map(kept.map((id, i) => [id, toRow(id, flat[i] ?? [])]));
    return entries.map(({ id, status }) => {
      const row = rows.get(id);
      if (!row) return null;
      if (status !== undefined && status !== (row.status === 'running' ? 'queued' : row.status)) return null;
      // The index says queued for running calls too, and a status may change between reads.
      if (filters.statuses?.length && !filters.statuses.includes(row.status)) return null;
      if (filters.policy && row.policy !== filters.policy) return null;
      return row;
    });
  }

  /** Whether each id is in at least one set of every group (one pipelined round trip). */
  private async inEveryGroup(ids: string[], groups: string[][]): Promise<boolean[]> {
    if (groups.length === 0) return ids.map(() => true);
    const pipeline = this.redis.pipeline();
    for (const id of ids) for (const group of groups) for (const k of group) pipeline.zscore(k, id);
    const scores = ((await pipeline.exec()) ?? []).map(([, score]) => score !== null);
    let at = 0;
    return ids.map(() => groups.every((group) => group.map(() => scores[at++]).some(Boolean)));
  }
}

interface ListRowsScript {
  callhookListRows(keyCount: number, ...keys: string[]): Promise<string[][]>;
}

function toRow(callId: string, flat: string[]): CallRow | undefined {
  if (flat.length === 0) return undefined;
  const fields: Record<string, string> = {};
  const apps: Record<string, AppStatus> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    if (name.startsWith('r:')) apps[name.slice(2)] = flat[i + 1] as AppStatus;
    else fields[name] = flat[i + 1]!;
  }
  return {
    call_id: callId,
    policy: fields.policy ?? null,
    status: shownStatus(fields.status, fields.locked === '1'),
    calling_number: fields.calling ?? '',
    called_number: fields.called ?? '',
    created_at: fields.created_at ?? '',
    finished_at: fields.finished_at ?? null,
    apps,
  };
}

/**
 * Newest first across several index sets: `count` positions, merged by (score, id) descending.
 * An id in `seen` (taken before, from this set or another) is skipped, and each id taken is added.
 * A skipped position is never the page's last, so a cursor still marks where the merge stopped.
 */
async function takeNewest(cursors: IndexCursor[], count: number, seen: Set<string>): Promise<Entry[]> {
  const out: Entry[] = [];
  while (out.length < count) {
    await Promise.all(cursors.map((c) => c.fill()));
    let best: IndexCursor | undefined;
    for (const c of cursors) if (c.head && (!best || newer(c.head, best.head!))) best = c;
    if (!best) break;
    const entry = best.take();
    if (seen.has(entry.id)) continue;
    seen.add(entry.id);
    out.push(entry);
  }
  return out;
}

function newer(a: Position, b: Position): boolean {
  return a.score > b.score || (a.score === b.score && a.id > b.id);
}

/**
 * Reads one index set newest first, in chunks, from a position, within the filters' time range
 * (and the TTL's).
 * Each chunk starts where the last one ended, by score (an offset counts only within the ties at
 * that score, and is checked): calls that change while a page is read move to the top, above it,
 * and would otherwise push rows already read down into the next chunk, listing them twice.
 */
class IndexCursor {
  private buffer: Entry[] = [];
  /** The last position read from Redis, and its place among the positions of its score (1 = the first). */
  private last: Position | undefined;
  private ties = 0;
  private done = false;
  private readonly max: string;
  private readonly min: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    /** The status whose set this is, undefined for another index. */
    private readonly status: string | undefined,
    /** The oldest score read (`since`, the TTL's), -Infinity for no bound. */
    oldest: number,
    /** The newest score read (`until`). */
    newest: number | undefined,
    private readonly after: Position | undefined,
  ) {
    const top = Math.min(after?.score ?? Infinity, newest ?? Infinity);
    this.max = top === Infinity ? '+inf' : String(top);
    this.min = oldest === -Infinity ? '-inf' : String(oldest);
  }

  get head(): Entry | undefined {
    return this.buffer[0];
  }

  take(): Entry {
    return this.buffer.shift()!;
  }

  async fill(): Promise<void> {
    while (this.buffer.length === 0 && !this.done) {
      const previous = this.last;
      let count = CHUNK;
      let flat: string[];
      if (!previous) flat = await this.read(this.max, 0, count);
      else {
        // From the last score read: past its ties read already, the last one read first (a check).
        count = CHUNK + 1;
        flat = await this.read(String(previous.score), this.ties - 1, count);
        if (flat[0] !== previous.id || Number(flat[1]) !== previous.score) {
          // The ties at that score changed meanwhile: read them all again, skipping what was read.
          count = CHUNK + this.ties;
          flat = await this.read(String(previous.score), 0, count);
          this.last = undefined;
        }
      }
      if (flat.length < count * 2) this.done = true;
      for (let i = 0; i < flat.length; i += 2) {
        const position = { id: flat[i]!, score: Number(flat[i + 1]) };
        if (this.last && this.last.id === position.id && this.last.score === position.score) continue; // the check
        this.ties = this.last?.score === position.score ? this.ties + 1 : 1;
        this.last = position;
        if (previous && !newer(previous, position)) continue; // read by an earlier chunk
        // Ties with the cursor's score continue below its id; later ones were already listed.
        if (this.after && !newer(this.after, position)) continue;
        this.buffer.push({ ...position, status: this.status });
      }
    }
  }

  private read(max: string, offset: number, count: number): Promise<string[]> {
    return this.redis.zrevrangebyscore(this.key, max, this.min, 'WITHSCORES', 'LIMIT', offset, count);
  }

  /** Whether this index has a call left (everything buffered is older than what was taken). */
  async hasMore(): Promise<boolean> {
    await this.fill();
    return this.buffer.length > 0;
  }
}

/** The opaque cursor of a position. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.score, position.id])).toString('base64url');
}

/** The position of a cursor, or undefined when it is not one. */
export function decodeCursor(cursor: string): Position | undefined {
  try {
    const [score, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    return typeof score === 'number' && Number.isFinite(score) && typeof id === 'string' ? { score, id } : undefined;
  } catch {
    return undefined;
  }
}
