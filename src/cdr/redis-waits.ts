/** A Redis reply the ingester stopped waiting for: its connection was lost before it came. */
export class RedisLostError extends Error {
  override name = 'RedisLostError';
  constructor() {
    super('the Redis connection was lost before it answered');
  }
}

/**
 * The ingester's waits for Redis replies, each ended at once when a connection is lost. Its
 * connections send nothing again after a reconnection (runtime.ts FailFast), so a reply lost
 * with the connection never comes: waiting out the command timeout would only hold up the
 * file's failure, and a stop. The command itself may or may not have run; either way the file's
 * checkpoint stays before it, and the next run reads those records again (deterministic call
 * ids make the ones that did run come back as duplicates).
 */
export class RedisWaits {
  private readonly pending = new Set<(error: Error) => void>();
  /** Waits ended by a lost connection so far: their commands still hold their command timeout's timer. */
  abandoned = 0;

  wait<T>(reply: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.add(reject);
      reply.then(
        (value) => {
          this.pending.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.pending.delete(reject);
          reject(error);
        },
      );
    });
  }

  /** Fails every wait pending now. */
  lost(): void {
    const error = new RedisLostError();
    this.abandoned += this.pending.size;
    for (const reject of this.pending) reject(error);
    this.pending.clear();
  }
}
