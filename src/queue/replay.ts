import type { Queue } from 'bullmq';
import type { CallhookConfig } from '../policies/types';
import type { CallStore } from '../store/call-store';
import { jobIdFor, QUEUE_NAME, type CallJobData } from './calls-queue';

export type ReplayOutcome =
  | { ok: true; call_id: string; status: 'queued'; replayed: string[] }
  | { ok: false; call_id: string; status: 404 | 409; message: string };

/**
 * Re-runs a finished call's failed apps and the ones after them that did not succeed, keeping
 * every successful result (those apps are not sent again). An unmatched call is resolved anew,
 * so a policy added since then applies.
 */
export class Replayer {
  constructor(
    private readonly queue: Queue<CallJobData>,
    private readonly store: CallStore,
    private readonly config: CallhookConfig,
  ) {}

  async replay(callId: string): Promise<ReplayOutcome> {
    const record = await this.store.get(callId);
    if (!record) return { ok: false, call_id: callId, status: 404, message: `no call ${callId}` };
    if (record.status === 'queued' || record.status === 'running') {
      return { ok: false, call_id: callId, status: 409, message: `call ${callId} is ${record.status}; replay it once it has finished` };
    }
    const policy = record.policy ? this.config.byId.get(record.policy) : undefined;
    const postCall = policy?.apps.filter((a) => a.phase === 'post_call') ?? [];
    const replayed = postCall.filter((a) => record.app_data[a.slug]?.status !== 'success').map((a) => a.slug);
    if (record.status !== 'unmatched' && replayed.length === 0) {
      return { ok: false, call_id: callId, status: 409, message: `call ${callId} has no failed or skipped app to replay` };
    }

    const jobId = jobIdFor(callId);
    const previous = await this.queue.getJob(jobId);
    if (previous) {
      const state = await previous.getState();
      if (state !== 'completed' && state !== 'failed') {
        return { ok: false, call_id: callId, status: 409, message: `call ${callId} is already in the queue (${state})` };
      }
      await previous.remove();
    }
    await this.store.resetForReplay(callId, replayed, record.status !== 'unmatched');
    await this.queue.add(QUEUE_NAME, { call_id: callId }, { jobId });
    return { ok: true, call_id: callId, status: 'queued', replayed };
  }
}
