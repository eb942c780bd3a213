import type { RedisClient } from '../store/call-store';

/** Where reading a file resumes: the line number and byte offset of the next record. */
export interface Checkpoint {
  line: number;
  offset: number;
}

/** What is remembered about a finished file. */
export interface DoneEntry {
  done_at: string;
  records: number;
  queued: number;
  duplicates: number;
  rejected: number;
  skipped: number;
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
  ) {
    this.doneKey = `${prefix}:cdr:done`;
    this.progressKey = `${prefix}:cdr:progress`;
  }

  async done(identity: string): Promise<DoneEntry | undefined> {
    const raw = await this.redis.hget(this.doneKey, identity);
    return raw ? (JSON.parse(raw) as DoneEntry) : undefined;
  }

  async checkpoint(identity: string): Promise<Checkpoint | undefined> {
    const raw = await this.redis.hget(this.progressKey, identity);
    if (!raw) return undefined;
    const [line, offset] = raw.split(':').map(Number);
    return line && offset !== undefined && Number.isFinite(offset) ? { line, offset } : undefined;
  }

  /** Records that every record before `at` is queued. */
  async saveCheckpoint(identity: string, at: Checkpoint): Promise<void> {
    await this.redis.hset(this.progressKey, identity, `${at.line}:${at.offset}`);
  }

  /** Marks the file done and drops its checkpoint, atomically. */
  async markDone(identity: string, entry: DoneEntry): Promise<void> {
    await this.redis.multi().hset(this.doneKey, identity, JSON.stringify(entry)).hdel(this.progressKey, identity).exec();
  }
}
