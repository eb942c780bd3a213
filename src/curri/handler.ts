import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { parseEvent } from '../events/schema';
import type { CallEvent } from '../model/call';
import { runRealtime, type RealtimeStore } from '../pipeline/realtime';
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
  /** Queues the call's post-call apps; run once the answer is written (the product's order). */
  afterAnswer?: () => Promise<unknown>;
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
  if (!policy) return answer({ action: 'continue' }, 'no_policy', event, undefined);

  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve('timeout');
    }, Math.max(0, startedAt + deps.timeoutMs - Date.now()));
  });
  const running = runRealtime(deps.config, event, { sender: deps.sender, redactor: deps.redactor, observer: deps.observer, signal: abort.signal }, deps.store);
  running.catch((error: unknown) => deps.logger.warn({ call_id: event.call_id, err: (error as Error).message }, 'curri: real-time run failed after the answer'));
  try {
    const realtime = await Promise.race([running, deadline]);
    if (realtime === 'timeout') return failure(event, policy, 'timeout', `no answer within ${deps.timeoutMs} ms`, deps);
    const failed = Object.entries(realtime.app_data).filter(([, r]) => r.status === 'failed');
    if (failed.length > 0) return failure(event, policy, 'app_failed', failed.map(([slug, r]) => `${slug}: ${r.error?.message ?? 'failed'}`).join('; '), deps);
    const directive = renderDirective(policy.curri, { event, app_data: { ...event.app_data, ...realtime.app_data } });
    return answer(directive, 'ok', event, policy, deps);
  } catch (error) {
    const outcome = error instanceof CurriTemplateError ? 'template_error' : 'error';
    return failure(event, policy, outcome, (error as Error).message, deps);
  } finally {
    clearTimeout(timer);
  }
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

function answer(directive: CurriDirective, outcome: CurriOutcome, event: CallEvent | undefined, policy: Policy | undefined, deps?: CurriDeps): CurriAnswer {
  const postCall = deps && event && policy && policy.curri?.postCall !== false && policy.apps.some((app) => app.phase === 'post_call');
  return {
    xml: xacmlResponse(directive),
    decision: directive.action === 'reject' ? 'Deny' : 'Permit',
    outcome,
    call_id: event?.call_id,
    ...(postCall ? { afterAnswer: () => deps.enqueue(event) } : {}),
  };
}

/** The policy's error answer (continue unless `on_error: reject`), logged; post-call apps still follow. */
function failure(event: CallEvent | undefined, policy: Policy | undefined, outcome: CurriOutcome, reason: string, deps: CurriDeps): CurriAnswer {
  deps.logger.warn({ call_id: event?.call_id, policy: policy?.id, outcome, reason }, 'curri: answering the error decision');
  return answer(policy?.curri?.onError === 'reject' ? { action: 'reject' } : { action: 'continue' }, outcome, event, policy, deps);
}
