import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { CallRecord, CallStatus } from '../model/call';
import type { CallStore, RedisClient } from '../store/call-store';
import { redisNowMs } from '../store/expiry';
import { resolveTimeBound, type TimeBound } from '../util/duration';
import { printable, printableJson } from '../util/terminal';
import { csvHeader, csvRows } from './csv';

export interface ExportOptions {
  /** Calls whose last change is at or after this (a duration back from now by Redis's clock, as the index's scores)... */
  since: TimeBound;
  /** ...and at or before this. @defaultValue now, by Redis's clock */
  until?: TimeBound | undefined;
  statuses?: readonly CallStatus[] | undefined;
  format: 'ndjson' | 'csv';
  out: Writable;
  /** How each call is shown (results in run order). */
  present?: (call: CallRecord) => CallRecord;
  /** `out` is a terminal: call data is written with its control characters escaped (util/terminal). */
  terminal?: boolean;
}

/** Calls read per round trip: bounds memory whatever the export's size. */
const CHUNK = 500;

/**
 * Writes every call of a time window, oldest first, as NDJSON (the call as the API shows it, one
 * per line) or CSV (one row per app result). Streams: one chunk of calls in memory at a time,
 * waiting for the output to drain. Reads the `all` index by last change, so no key scan.
 */
export async function exportCalls(redis: RedisClient, prefix: string, store: CallStore, options: ExportOptions): Promise<{ calls: number }> {
  const { out } = options;
  // A failed output (disk full, a closed pipe) ends the export with its error instead of a wait
  // for a `drain` that never comes.
  const write = async (text: string) => {
    if (out.destroyed) throw out.errored ?? new Error('the output was closed');
    if (!out.write(text)) await once(out, 'drain');
  };
  const index = `${prefix}:idx:all`;
  // Now by the clock the index is scored by: not this host's, which may be off.
  const now = await redisNowMs(redis);
  const max = String(options.until ? resolveTimeBound(options.until, now) : now);
  // Older entries are of records the TTL expired, which the trims may not have removed yet.
  let min = String(Math.max(resolveTimeBound(options.since, now), now - store.ttlMs));
  // Ids with score `min` already written: a chunk may end inside a run of equal scores.
  let tied = new Set<string>();
  let calls = 0;
  const show = options.terminal ? printable : undefined;
  const json = options.terminal ? printableJson : (text: string) => text;
  if (options.format === 'csv') await write(csvHeader());
  for (;;) {
    const asked = CHUNK + tied.size;
    const flat = await redis.zrangebyscore(index, min, max, 'WITHSCORES', 'LIMIT', 0, asked);
    const page: { id: string; score: string }[] = [];
    for (let i = 0; i < flat.length; i += 2) if (!tied.has(flat[i]!)) page.push({ id: flat[i]!, score: flat[i + 1]! });
    if (page.length === 0) break;
    for (const record of await store.getMany(page.map((p) => p.id))) {
      if (!record || (options.statuses?.length && !options.statuses.includes(record.status))) continue;
      const call = options.present ? options.present(record) : record;
      await write(options.format === 'csv' ? csvRows(call, show) : `${json(JSON.stringify(call))}\n`);
      calls += 1;
    }
    const lastScore = page[page.length - 1]!.score;
    const atLast = page.filter((p) => p.score === lastScore).map((p) => p.id);
    tied = lastScore === min ? new Set([...tied, ...atLast]) : new Set(atLast);
    min = lastScore;
    if (flat.length < asked * 2) break;
  }
  return { calls };
}
