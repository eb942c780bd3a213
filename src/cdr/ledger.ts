import type { RedisClient } from '../store/call-store';

/** Where reading a file resumes: the line number and byte offset of the next record. */
export interface Checkpoint {
  line: number;
  offset: number;
}

/** What is remembered about a finished CDR file. */
export interface DoneEntry {
  done_at: string;
  records: number;
  queued: number;
  duplicates: number;
  rejected: number;
  skipped: number;
  /** Of `skipped`, abandoned calls; absent from entries written before they were told apart. */
  abandoned?: number;
  /** Call records that carry the quality of at least one leg. */
  quality_joined: number;
  /** The CMR twin read with it, when there was one. */
  cmr_file?: string;
}

/**
 * What is remembered about a consumed CMR file: done with its CDR twin (in the same MULTI),
 * or, without a twin, once the run that held its rows ends.
 */
export interface CmrDoneEntry {
  done_at: string;
  kind: 'cmr';
  records: number;
  joined: number;
  unmatched: number;
  rejected: number;
  skipped: number;
}

/** A file identity and what to remember about it. */
export interface DoneMark {
  identity: string;
  entry: DoneEntry | CmrDoneEntry;
}

/**
 * Per-file ingestion state in Redis, beside the calls it produced: `<prefix>:cdr:done` (hash
 * of file identity → DoneEntry) and `<prefix>:cdr:progress` (identity → checkpoint). Kept in
 * Redis rather than by moving files so read-only drop directories and several ingesters on
 * one directory work, and so the state lives and dies with the queue it describes.
 */
export class FileLedger {
  private readonly doneKey: string;
  private readonly progressKey: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    /** Each reply goes through it: the ingester stops waiting when a connection is lost (RedisWaits). */
    private readonly wait: <T>(reply: Promise<T>) => Promise<T> = (reply) => reply,
  ) {
    this.doneKey = `${prefix}:cdr:done`;
    this.progressKey = `${prefix}:cdr:progress`;
  }

  async done(identity: string): Promise<DoneEntry | CmrDoneEntry | undefined> {
    const raw = await this.wait(this.redis.hget(this.doneKey, identity));
    return raw ? (JSON.parse(raw) as DoneEntry | CmrDoneEntry) : undefined;
  }

  async checkpoint(identity: string): Promise<Checkpoint | undefined> {
    const raw = await this.wait(this.redis.hget(this.progressKey, identity));
    if (!raw) return undefined;
    const [line, offset] = raw.split(':').map(Number);
    return line && offset !== undefined && Number.isFinite(offset) ? { line, offset } : undefined;
  }

  /** Records that every record before `at` is queued. */
  async saveCheckpoint(identity: string, at: Checkpoint): Promise<void> {
    await this.wait(this.redis.hset(this.progressKey, identity, `${at.line}:${at.offset}`));
  }

  /**
   * Marks the file done and drops its checkpoint, atomically, together with `also` (the CMR
   * twin consumed with it): a CDR file is never done without its twin, nor the twin without it.
   * The first entry stays: a second ingester that read the same file at the same time found only
   * duplicates, and its counts would hide what the first one queued.
   */
  async markDone(identity: string, entry: DoneEntry | CmrDoneEntry, also: readonly DoneMark[] = []): Promise<void> {
    const multi = this.redis.multi().hsetnx(this.doneKey, identity, JSON.stringify(entry)).hdel(this.progressKey, identity);
    for (const mark of also) multi.hsetnx(this.doneKey, mark.identity, JSON.stringify(mark.entry));
    await this.wait(multi.exec());
  }
}
