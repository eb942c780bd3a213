import type { Queue } from 'bullmq';
import { serializeEvent, type CallEvent, type SerializedEvent } from '../events/schema';
import type { CallStore } from '../store/call-store';
import { jobIdFor, QUEUE_NAME, type CallJobData } from './calls-queue';

export interface EnqueueResult {
  call_id: string;
  status: 'queued' | 'duplicate';
}

/**
 * Puts validated events on the queue, once per call id: a call already queued (by any
 * producer: API, CDR ingester, library) is reported as `duplicate` and not queued again.
 */
export class CallProducer {
  constructor(
    private readonly queue: Queue<CallJobData>,
    private readonly store: CallStore,
    /** Told about every enqueue outcome (metrics). */
    private readonly onEnqueued: (results: readonly EnqueueResult[]) => void = () => undefined,
  ) {}

  async enqueue(events: readonly CallEvent[]): Promise<EnqueueResult[]> {
    return this.enqueueSerialized(events.map(serializeEvent));
  }

  /** The same for events already in their queue form (see serializeEvent). */
  async enqueueSerialized(events: readonly SerializedEvent[]): Promise<EnqueueResult[]> {
    if (events.length === 0) return [];
    const marks = await this.store.markQueued(events);
    const toQueue = events.filter((_, i) => marks[i] !== 'duplicate');
    if (toQueue.length > 0) {
      try {
        const jobs = toQueue.map((event) => ({ name: QUEUE_NAME, data: { call_id: event.call_id }, opts: { jobId: jobIdFor(event.call_id) } }));
        // addBulk wraps even one job in a MULTI; a single event is the API's common case.
        if (jobs.length === 1) await this.queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
        else await this.queue.addBulk(jobs);
      } catch (error) {
        const fresh = events.filter((_, i) => marks[i] === 'new');
        await this.store.unmarkQueued(fresh.map((e) => e.call_id)).catch(() => undefined);
        throw error;
      }
    }
    const results: EnqueueResult[] = events.map((event, i) => ({ call_id: event.call_id, status: marks[i] === 'new' ? 'queued' : 'duplicate' }));
    this.onEnqueued(results);
    return results;
  }
}
