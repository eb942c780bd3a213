import type { Queue } from 'bullmq';
import { serializeEvent, type CallEvent, type SerializedEvent } from '../events/schema';
import type { CallStore, QueueMark } from '../store/call-store';
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
    const nowMs = Date.now();
    const { marks, withJob } = await this.store.markQueuedFindingJobs(events, nowMs);
    const queuedAt = new Date(nowMs).toISOString();
    const jobs: { name: string; data: CallJobData; opts: { jobId: string } }[] = [];
    events.forEach((event, i) => {
      if (marks[i] === 'duplicate') return;
      // A new record's first run starts from its job (CallStore.freshRun): no read of the record.
      const data: CallJobData = marks[i] === 'new' && carriesEvent(event) ? { call_id: event.call_id, fresh: { event: event.json, queued_at: queuedAt } } : { call_id: event.call_id };
      jobs.push({ name: QUEUE_NAME, data, opts: { jobId: jobIdFor(event.call_id) } });
    });
    if (jobs.length > 0) {
      try {
        if (withJob.length > 0) await this.removeFinishedJobs(withJob);
        // addBulk wraps even one job in a MULTI; a single event is the API's common case.
        if (jobs.length === 1) await this.queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
        else await this.queue.addBulk(jobs);
      } catch (error) {
        const marked = events.filter((_, i) => isQueued(marks[i]));
        await this.store.unmarkQueued(marked.map((e) => e.call_id)).catch(() => undefined);
        throw error;
      }
    }
    const results: EnqueueResult[] = events.map((event, i) => ({ call_id: event.call_id, status: isQueued(marks[i]) ? 'queued' : 'duplicate' }));
    this.onEnqueued(results);
    return results;
  }

  /**
   * A call queued now (its record new, or made by real-time apps) whose id still has a job: a job
   * BullMQ gave up on outlives its call's record (failed jobs are kept for days), and BullMQ
   * ignores an add whose id it has, so the call would wait in `queued` forever. A finished job
   * (failed, completed) goes; one still waiting or running is left to run the call. Only for the
   * calls markQueued found with a job: the common case costs nothing.
   */
  private async removeFinishedJobs(callIds: readonly string[]): Promise<void> {
    await Promise.all(
      callIds.map(async (callId) => {
        const jobId = jobIdFor(callId);
        const state = await this.queue.getJobState(jobId);
        if (state === 'failed' || state === 'completed') await this.queue.remove(jobId);
      }),
    );
  }
}

/**
 * Largest event JSON a job carries a copy of. The copy saves the worker one read of the record
 * per call, which pays for an API event (a few hundred bytes). A CDR event (4.6 KB with its raw
 * columns) would be held twice in Redis while it waits, and escaping it into the job cost the
 * CDR ingester about a quarter of its rate (npm run bench:ingest).
 */
export const JOB_EVENT_COPY_MAX = 2048;

function carriesEvent(event: SerializedEvent): boolean {
  return event.json.length <= JOB_EVENT_COPY_MAX;
}

/** Whether markQueued queued the call now (on a new record or on one real-time apps made). */
function isQueued(mark: QueueMark | undefined): boolean {
  return mark === 'new' || mark === 'new-kept';
}
