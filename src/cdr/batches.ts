import { setTimeout as sleep } from 'node:timers/promises';
import type { SerializedEvent } from '../events/schema';
import type { EnqueueResult } from '../queue/producer';
import type { Checkpoint, FileLedger } from './ledger';

/** What the batches of one file came to. */
export interface BatchCounts {
  queued: number;
  /** Call ids that were already queued (re-ingestion, a second ingester, a resumed file). */
  duplicates: number;
}

/**
 * A file's batches on their way to the queue: up to `depth` in flight at once (so parsing
 * overlaps Redis round trips), each followed by a checkpoint that is written only when it and
 * every earlier batch are queued, so a crash resumes at the last checkpoint and loses nothing.
 */
export class BatchPipeline {
  private checkpoints: Promise<unknown> = Promise.resolve();
  private readonly inflight: Promise<unknown>[] = [];

  constructor(
    private readonly counts: BatchCounts,
    private readonly options: {
      /** Queues events; absent in a dry run (the batch counts as queued). */
      enqueue: ((events: SerializedEvent[]) => Promise<EnqueueResult[]>) | undefined;
      ledger: FileLedger | undefined;
      identity: string;
      depth: number;
      /** Test knob: wait before each batch. */
      delayMs: number;
    },
  ) {}

  /** Sends a batch ending at `end`; waits while `depth` batches are in flight. */
  async send(events: SerializedEvent[], end: Checkpoint): Promise<void> {
    const sent = this.enqueue(events);
    this.checkpoints = Promise.all([sent, this.checkpoints]).then(() => this.options.ledger?.saveCheckpoint(this.options.identity, end));
    this.checkpoints.catch(() => undefined); // awaited through `inflight`; this only marks it handled
    this.inflight.push(this.checkpoints);
    while (this.inflight.length >= this.options.depth) await this.inflight.shift();
  }

  /** Waits for every batch and checkpoint; rethrows the first failure. */
  async finish(): Promise<void> {
    while (this.inflight.length > 0) await this.inflight.shift();
  }

  /** After a failure: lets the batches in flight settle before the error propagates. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inflight);
  }

  private async enqueue(events: SerializedEvent[]): Promise<void> {
    if (this.options.delayMs) await sleep(this.options.delayMs);
    if (!this.options.enqueue) {
      this.counts.queued += events.length;
      return;
    }
    const results = await this.options.enqueue(events);
    const dupes = results.filter((r) => r.status === 'duplicate').length;
    this.counts.queued += results.length - dupes;
    this.counts.duplicates += dupes;
  }
}
