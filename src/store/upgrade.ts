import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { CallEvent } from '../model/call';
import type { RedisClient } from './call-store';
import { numberKeys } from './numbers';
import { UPGRADE_RECORDS } from './scripts';

/**
 * The shape of the data under a prefix, kept in `<prefix>:schema`: 2 is records with their numbers
 * (`calling`, `called`, `nums`) and the `idx:*` indexes. Before it (no key), records had neither,
 * and failed or partial calls were listed in `<prefix>:failed-calls`.
 */
export const SCHEMA_VERSION = 2;

/** How long the upgrading process holds its lock without renewing it (it renews it every page). */
const LOCK_MS = 30_000;
/** How often a process waiting for another's upgrade looks again. */
const WAIT_MS = 500;
/** Records read and upgraded per SCAN page (one script each). */
const PAGE = 500;

export interface UpgradeCounts {
  /** Records read. */
  records: number;
  /** Records given their numbers and indexed now. */
  upgraded: number;
  /** Entries of the legacy failed-calls set that were dropped (their calls are indexed from their records). */
  legacyFailed: number;
}

interface UpgradeScript {
  callhookUpgradeRecords(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number>;
}

/**
 * Brings the records under `prefix` to SCHEMA_VERSION once, before a process serves them:
 * records an older callhook wrote lack the fields and index entries the list, search, export,
 * stats and `replay --failed` read, so their calls were invisible for the rest of their TTL.
 * Costs one GET once done (or on an empty Redis after its first start). One process upgrades,
 * under a lock; the others wait for it (and take over if it dies: every step is idempotent).
 * Answers the counts when this process did the upgrade.
 */
export async function upgradeStore(redis: RedisClient, prefix: string, ttlMs: number, logger: Logger): Promise<UpgradeCounts | undefined> {
  const schemaKey = `${prefix}:schema`;
  const lockKey = `${prefix}:schema:lock`;
  let waiting = false;
  for (;;) {
    if (Number(await redis.get(schemaKey)) >= SCHEMA_VERSION) return undefined;
    const token = randomUUID();
    if ((await redis.set(lockKey, token, 'PX', LOCK_MS, 'NX')) === 'OK') {
      const counts = await upgradeRecords(redis, prefix, ttlMs, lockKey, token);
      if (counts) {
        await redis.set(schemaKey, SCHEMA_VERSION);
        await redis.del(lockKey);
        // A new deployment's first start has nothing to tell.
        const level = counts.records + counts.legacyFailed > 0 ? 'info' : 'debug';
        logger[level]({ ...counts, schema: SCHEMA_VERSION }, `store upgraded: ${counts.upgraded} of ${counts.records} call records given their numbers and indexed (list, search, export, stats, replay --failed)`);
        return counts;
      }
      // Lost the lock (this process stalled past it): another process took the upgrade over.
    }
    if (!waiting) logger.info('waiting for another callhook process to finish upgrading the stored call records');
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
  }
}

/** Upgrades every record, page by page; undefined when the lock was lost on the way. */
async function upgradeRecords(redis: RedisClient, prefix: string, ttlMs: number, lockKey: string, token: string): Promise<UpgradeCounts | undefined> {
  if (!('callhookUpgradeRecords' in redis)) redis.defineCommand('callhookUpgradeRecords', { lua: UPGRADE_RECORDS });
  const counts: UpgradeCounts = { records: 0, upgraded: 0, legacyFailed: 0 };
  for await (const keys of recordKeyPages(redis, prefix)) {
    const fields = await readOldFields(redis, keys);
    const args = keys.flatMap((key, i) => upgradeArgs(key.slice(`${prefix}:call:`.length), fields[i]!));
    const upgraded = await (redis as unknown as UpgradeScript).callhookUpgradeRecords(keys.length + 1, lockKey, ...keys, token, LOCK_MS, ttlMs, prefix, ...args);
    if (upgraded < 0) return undefined;
    counts.records += keys.length;
    counts.upgraded += upgraded;
  }
  // Every call it listed that still has its record was indexed from the record with the others.
  const legacy = `${prefix}:failed-calls`;
  counts.legacyFailed = await redis.zcard(legacy);
  await redis.del(legacy);
  return counts;
}

/**
 * The record keys under `prefix`, a SCAN page at a time. On Redis Cluster the keys of a
 * hash-tagged prefix are on one master, but SCAN reads one node: each master is scanned.
 */
async function* recordKeyPages(redis: RedisClient, prefix: string): AsyncGenerator<string[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const match = `${escapeGlob(prefix)}:call:*`;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', PAGE);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

type OldFields = [event: string | null, finishedAt: string | null, queuedAt: string | null, createdAt: string | null];

async function readOldFields(redis: RedisClient, keys: string[]): Promise<OldFields[]> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hmget(key, 'event', 'finished_at', 'queued_at', 'created_at');
  return ((await pipeline.exec()) ?? []).map(([error, values]) => {
    if (error) throw error;
    return values as OldFields;
  });
}

/**
 * Per record, what UPGRADE_RECORDS writes: its numbers as MARK_QUEUED stores them, and its index
 * score, the last change as the record tells it (finish, else queue, else creation; ms).
 */
function upgradeArgs(callId: string, [event, finishedAt, queuedAt, createdAt]: OldFields): (string | number)[] {
  const parsed = parseEvent(event);
  const calling = String(parsed.calling_number ?? '');
  const called = String(parsed.called_number ?? '');
  const score = [finishedAt, queuedAt, createdAt].map((at) => (at ? Date.parse(at) : NaN)).find((ms) => Number.isFinite(ms)) ?? 0;
  return [callId, calling, called, numberKeys(calling, called), score];
}

/** A stored event, or nothing to take numbers from when it is missing or not JSON (start-up must not fail on one record). */
function parseEvent(event: string | null): Partial<CallEvent> {
  try {
    const parsed: unknown = event ? JSON.parse(event) : {};
    return parsed !== null && typeof parsed === 'object' ? (parsed as Partial<CallEvent>) : {};
  } catch {
    return {};
  }
}

/** `text` matched literally by a SCAN pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
