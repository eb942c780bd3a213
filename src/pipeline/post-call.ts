import type { CallEvent } from '../events/schema';
import type { Policy } from '../policies/types';
import { backoffDelay, decideRetry } from '../webhook/retry-policy';
import { sendAttempt, type SendDeps } from '../webhook/send';
import { noopObserver, type PipelineObserver } from './observer';
import { callStatus, finalResult, skipResult, type AppResult, type CallStatus } from './result';

/** What the post-call runner needs to know about a call, as loaded from the store. */
export interface CallState {
  event: CallEvent;
  /** Results already stored for this call (real-time apps, post-call apps done before a retry or crash). */
  results: Readonly<Record<string, AppResult>>;
  /** Attempts already made of an app that is waiting to be retried. */
  pendingAttempts: Readonly<Record<string, number>>;
}

/** Where each app's result is checkpointed, at the latest before the next request is sent. */
export interface Checkpoint {
  saveResult(callId: string, policyId: string, slug: string, result: AppResult): Promise<void>;
  savePendingAttempts(callId: string, policyId: string, slug: string, attempts: number): Promise<void>;
  /** The call's final status, written together with its last app result. */
  finish(callId: string, policyId: string, status: CallStatus, last?: { slug: string; result: AppResult }): Promise<void>;
}

export type PostCallOutcome =
  | { kind: 'finished'; status: CallStatus; results: Record<string, AppResult> }
  | { kind: 'retry'; slug: string; attempt: number; delayMs: number };

/**
 * Runs a policy's post-call apps in order, one attempt each time it is called, and records the
 * call's final status. An app's result is stored before any later request is sent, and an app
 * with a stored result is never sent again, so a rerun (retry, crash redelivery) resumes where
 * the last run stopped. The last result is written with the final status (one round trip).
 * A retryable failure with attempts left returns `retry`; the caller schedules the rerun
 * (BullMQ delayed retry) without holding a worker slot.
 */
export async function runPostCall(
  policy: Policy,
  state: CallState,
  deps: SendDeps & { checkpoint: Checkpoint; observer?: PipelineObserver },
  signal?: AbortSignal,
): Promise<PostCallOutcome> {
  const observer = deps.observer ?? noopObserver;
  const { event } = state;
  const appData: Record<string, unknown> = { ...event.app_data, ...state.results };
  const scope = { event, app_data: appData };
  const results: Record<string, AppResult> = {};
  let stoppedBy: string | undefined;
  const unsaved: { slug: string; result: AppResult }[] = [];
  const flush = async (keep = 0) => {
    while (unsaved.length > keep) {
      const { slug, result } = unsaved.shift()!;
      await deps.checkpoint.saveResult(event.call_id, policy.id, slug, result);
    }
  };

  for (const app of policy.apps) {
    if (app.phase !== 'post_call') continue;
    const stored = state.results[app.slug];
    if (stored) {
      results[app.slug] = stored;
      if (stored.status === 'failed' && app.onFailure === 'stop') stoppedBy = app.slug;
      continue;
    }

    let result = skipResult(app, scope, stoppedBy);
    if (!result) {
      await flush();
      const attempt = (state.pendingAttempts[app.slug] ?? 0) + 1;
      const report = await sendAttempt(app, event.call_id, scope, deps, { signal });
      const decision = decideRetry(report.outcome, app.retryOnStatus);
      const context = { callId: event.call_id, policy: policy.id, app: app.slug };
      const willRetry = decision.action === 'retry' && attempt <= app.retryCount;
      observer.attempt(context, decision.action === 'success' ? 'success' : willRetry ? 'retry' : 'failed', report.durationMs, report.httpStatus);
      if (willRetry) {
        await deps.checkpoint.savePendingAttempts(event.call_id, policy.id, app.slug, attempt);
        return { kind: 'retry', slug: app.slug, attempt, delayMs: backoffDelay(attempt, app.retryDelayMs, decision.afterMs) };
      }
      result = finalResult(app, report, attempt, scope);
      if (result.status === 'failed' && app.onFailure === 'stop') stoppedBy = app.slug;
    }

    unsaved.push({ slug: app.slug, result });
    observer.result({ callId: event.call_id, policy: policy.id, app: app.slug }, result);
    results[app.slug] = result;
    appData[app.slug] = result;
  }
  await flush(1);
  const status = callStatus(Object.values(results));
  await deps.checkpoint.finish(event.call_id, policy.id, status, unsaved[0]);
  return { kind: 'finished', status, results };
}
