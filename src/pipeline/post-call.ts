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

/** Where each app's result is checkpointed as soon as it is final. */
export interface Checkpoint {
  saveResult(callId: string, slug: string, result: AppResult): Promise<void>;
  savePendingAttempts(callId: string, slug: string, attempts: number): Promise<void>;
}

export type PostCallOutcome =
  | { kind: 'finished'; status: CallStatus; results: Record<string, AppResult> }
  | { kind: 'retry'; slug: string; attempt: number; delayMs: number };

/**
 * Runs a policy's post-call apps in order, one attempt each time it is called. An app with a
 * stored final result is never sent again, so a rerun (retry, crash redelivery) resumes where
 * the last run stopped. A retryable failure with attempts left returns `retry`; the caller
 * schedules the rerun (BullMQ delayed retry) without holding a worker slot.
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
      const attempt = (state.pendingAttempts[app.slug] ?? 0) + 1;
      const report = await sendAttempt(app, event.call_id, scope, deps, { signal });
      const decision = decideRetry(report.outcome, app.retryOnStatus);
      const context = { callId: event.call_id, policy: policy.id, app: app.slug };
      const willRetry = decision.action === 'retry' && attempt <= app.retryCount;
      observer.attempt(context, decision.action === 'success' ? 'success' : willRetry ? 'retry' : 'failed', report.durationMs, report.httpStatus);
      if (willRetry) {
        await deps.checkpoint.savePendingAttempts(event.call_id, app.slug, attempt);
        return { kind: 'retry', slug: app.slug, attempt, delayMs: backoffDelay(attempt, app.retryDelayMs, decision.afterMs) };
      }
      result = finalResult(app, report, attempt, scope);
      if (result.status === 'failed' && app.onFailure === 'stop') stoppedBy = app.slug;
    }

    await deps.checkpoint.saveResult(event.call_id, app.slug, result);
    observer.result({ callId: event.call_id, policy: policy.id, app: app.slug }, result);
    results[app.slug] = result;
    appData[app.slug] = result;
  }
  return { kind: 'finished', status: callStatus(Object.values(results)), results };
}
