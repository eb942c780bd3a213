import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { parseEvent } from '../events/schema';
import type { AppResult, CallEvent } from '../model/call';
import { runRealtimeApps, type RealtimeStore } from '../pipeline/realtime';
import type { RunnerDeps } from '../pipeline/runner';
import { resolvePolicy } from '../policies/resolve';
import type { CallhookConfig, Policy } from '../policies/types';
import { xacmlResponse, type CurriDirective } from './cixml';
import { CurriTemplateError, renderDirective } from './directive';
import { parseCurriRequest, type CurriAttributes } from './xacml';

/** How a CURRI request ended: `ok`, or why CUCM got the policy's error answer (continue unless `on_error: reject`). */
export type CurriOutcome = 'ok' | 'no_policy' | 'unparseable' | 'bad_event' | 'app_failed' | 'template_error' | 'timeout' | 'error';

export interface CurriAnswer {
  xml: string;
  decision: 'Permit' | 'Deny';
  outcome: CurriOutcome;
  call_id: string | undefined;
  /** Stores the real-time results and queues the post-call apps; run once the answer is written (the product's order). */
  afterAnswer?: () => Promise<void>;
}

export interface CurriDeps extends Omit<RunnerDeps, 'checkpoint' | 'signal'> {
  config: CallhookConfig;
  store: RealtimeStore;
  /** Queues a call for its post-call apps. */
  enqueue(event: CallEvent): Promise<unknown>;
  logger: Logger;
  /** The whole request is answered within this, real-time apps included. */
  timeoutMs: number;
}

/**
 * Answers one CURRI request within the deadline: the call becomes an event, its policy's
 * real-time apps run, and its `curri:` block decides what CUCM does. Anything that goes wrong
 * (unparseable XML, a failed app, a broken template, the deadline) answers the policy's
 * `on_error` (continue by default: fail open, as the product recommends) and is counted.
 */
export async function answerCurri(body: string, startedAt: number, deps: CurriDeps): Promise<CurriAnswer> {
  const parsed = parseCurriRequest(body);
  if (!parsed.ok) return failure(undefined, undefined, 'unparseable', parsed.reason, deps);
  const check = parseEvent(eventOf(parsed.attributes));
  if (!check.ok) return failure(undefined, undefined, 'bad_event', check.problems.join('; '), deps);
  const event = check.event;
  const policy = resolvePolicy(deps.config, event);
  if (!policy) return answer({ action: 'continue' }, 'no_policy', event);

  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve('timeout');
    }, Math.max(0, startedAt + deps.timeoutMs - Date.now()));
  });
  const running = runRealtimeApps(policy, event, { sender: deps.sender, redactor: deps.redactor, observer: deps.observer, signal: abort.signal });
  const after = () => afterAnswer(event, policy, running, deps);
  try {
    const appData = await Promise.race([running, deadline]);
    if (appData === 'timeout') return failure(event, policy, 'timeout', `no answer within ${deps.timeoutMs} ms`, deps, after);
    const failed = Object.entries(appData).filter(([, r]) => r.status === 'failed');
    if (failed.length > 0) return failure(event, policy, 'app_failed', failed.map(([slug, r]) => `${slug}: ${r.error?.message ?? 'failed'}`).join('; '), deps, after);
    const directive = renderDirective(policy.curri, { event, app_data: { ...event.app_data, ...appData } });
    return answer(directive, 'ok', event, after);
  } catch (error) {
    const outcome = error instanceof CurriTemplateError ? 'template_error' : 'error';
    return failure(event, policy, outcome, (error as Error).message, deps, after);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Once CUCM has its answer: the real-time results are stored with the call (so the record, the
 * feed and its post-call apps see them), then its post-call apps are queued.
 */
async function afterAnswer(event: CallEvent, policy: Policy, running: Promise<Record<string, AppResult>>, deps: CurriDeps): Promise<void> {
  const appData = await running;
  if (Object.keys(appData).length > 0) await deps.store.saveRealtimeResults(event.call_id, policy.id, appData, event);
  if (policy.curri?.postCall !== false && policy.apps.some((app) => app.phase === 'post_call')) await deps.enqueue(event);
}

function eventOf(a: CurriAttributes): Record<string, unknown> {
  return {
    call_id: `curri-${randomUUID()}`,
    // A call without caller id still happened: it is an event, as the CDR ingester does it.
    calling_number: a.callingNumber || a.transformedCallingNumber || 'anonymous',
    called_number: a.calledNumber || a.transformedCalledNumber,
    transformed_calling_number: a.transformedCallingNumber,
    transformed_called_number: a.transformedCalledNumber,
    calling_devicename: a.callingDeviceName,
    trigger_point_type: a.triggerPointType,
  };
}

function answer(directive: CurriDirective, outcome: CurriOutcome, event: CallEvent | undefined, after?: () => Promise<void>): CurriAnswer {
  return {
    xml: xacmlResponse(directive),
    decision: directive.action === 'reject' ? 'Deny' : 'Permit',
    outcome,
    call_id: event?.call_id,
    ...(after ? { afterAnswer: after } : {}),
  };
}

/** The policy's error answer (continue unless `on_error: reject`), logged; what ran is still stored and post-call apps follow. */
function failure(event: CallEvent | undefined, policy: Policy | undefined, outcome: CurriOutcome, reason: string, deps: CurriDeps, after?: () => Promise<void>): CurriAnswer {
  deps.logger.warn({ call_id: event?.call_id, policy: policy?.id, outcome, reason }, 'curri: answering the error decision');
  return answer(policy?.curri?.onError === 'reject' ? { action: 'reject' } : { action: 'continue' }, outcome, event, after);
}
