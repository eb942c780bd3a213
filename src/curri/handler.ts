import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { acceptDecodedEvent } from '../events/schema';
import { callStatus, type CallEvent } from '../model/call';
import { runRealtime, type RealtimeAnswer, type RealtimeStore } from '../pipeline/realtime';
import { appsOf, REAL_TIME, type RunnerDeps } from '../pipeline/runner';
import { resolvePolicy } from '../policies/resolve';
import type { CallhookConfig, Policy } from '../policies/types';
import { deadlineReached } from '../util/deadline';
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
  /** Stores the real-time results, then queues the post-call apps; run once the answer is written (the product's order). */
  afterAnswer?: () => Promise<void>;
}

export interface CurriDeps extends Omit<RunnerDeps, 'checkpoint' | 'signal' | 'deadlineAt' | 'waiting'> {
  config: CallhookConfig;
  store: RealtimeStore;
  /** Queues a call for its post-call apps. */
  enqueue(event: CallEvent): Promise<unknown>;
  logger: Logger;
  /** The whole request is answered within this, real-time apps included. */
  timeoutMs: number;
  /**
   * Whether a Redis connection is known down (reconnecting). The call's record is written before
   * its real-time apps are sent, and ioredis would hold that write until Redis is back: CUCM would
   * wait out the whole deadline for an answer that can only be the error one.
   */
  redisDown?: (() => boolean) | undefined;
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
  const call = callOf(parsed.attributes);
  const check = acceptDecodedEvent(call);
  // Not a valid event (a field over the limit, no called number): no app runs and nothing is
  // stored, but the policy its fields match still decides the answer (its on_error).
  if (!check.ok) return failure(call, resolvePolicy(deps.config, call), 'bad_event', check.problems.join('; '), deps);
  const event = check.event;
  const policy = resolvePolicy(deps.config, event);
  if (!policy) return answer({ action: 'continue' }, 'no_policy', event);
  // As a Redis that refuses the write: no app is sent, nothing is queued, the error answer at once.
  if (deps.redisDown?.() && appsOf(policy, REAL_TIME.phases).length > 0) {
    return failure(event, policy, 'error', 'Redis is unavailable (connection down): the call was not stored and no app was sent', deps);
  }

  // The apps' requests end by the deadline; the timer also bounds a Redis that is slow to answer.
  const deadlineAt = startedAt + answerWithinMs(deps.timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadlineAt - Date.now()));
  });
  // The record is written before the apps are sent, as for /v1/realtime; their results are
  // written while CUCM is answered: the answer does not depend on that write, so a slow Redis
  // does not delay it. (Measured: writing the record once, after the apps, made each request
  // cost ~25% more CPU at 50 concurrent, the outgoing requests no longer leaving in batches,
  // though ~20% less at 1,000/s; npm run bench:curri -- --compare.)
  const postCallFollows = queuesPostCall(policy);
  let appsRan: (answer: RealtimeAnswer) => void = () => undefined;
  const appsDone = new Promise<RealtimeAnswer>((resolve) => (appsRan = resolve));
  const running = runRealtime(deps.config, event, { sender: deps.sender, redactor: deps.redactor, observer: deps.observer, gate: deps.gate, deadlineAt }, deps.store, { postCallFollows, newCall: true, onAppsDone: appsRan });
  const after = () => storeAndQueue(event, policy, running, postCallFollows, deps);
  try {
    // `running` settles first when there was nothing to run, or the record could not be written.
    const realtime = await Promise.race([appsDone, running, deadline]);
    if (realtime === 'timeout') return failure(event, policy, 'timeout', `no answer within ${deps.timeoutMs} ms`, deps, after);
    const appData = realtime.app_data;
    const failed = Object.entries(appData).filter(([, r]) => r.status === 'failed');
    if (failed.length > 0) {
      // At the deadline the answer's timer and the apps' cancellation race: a run that failed by
      // then ran out of time, whichever came first.
      if (deadlineReached(deadlineAt)) return failure(event, policy, 'timeout', `no answer within ${deps.timeoutMs} ms`, deps, after);
      return failure(event, policy, 'app_failed', failed.map(([slug, r]) => `${slug}: ${r.error?.message ?? 'failed'}`).join('; '), deps, after);
    }
    const directive = renderDirective(policy.curri, { event, app_data: { ...event.app_data, ...appData } });
    leaveWithheldNumberAbsent(directive, !parsed.attributes.callingNumber && !parsed.attributes.transformedCallingNumber);
    return answer(directive, 'ok', event, after);
  } catch (error) {
    const outcome = error instanceof CurriTemplateError ? 'template_error' : 'error';
    return failure(event, policy, outcome, (error as Error).message, deps, after);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long after its arrival a CURRI request is answered at the latest: CALLHOOK_CURRI_TIMEOUT
 * less a safety margin (5 %, at most 50 ms). When many calls reach their deadline together, the
 * answers written from their timers wait for whatever else the event loop has to do; the margin
 * keeps them within the timeout CUCM was told.
 */
export function answerWithinMs(timeoutMs: number): number {
  return timeoutMs - Math.min(MAX_ANSWER_MARGIN_MS, Math.floor(timeoutMs * ANSWER_MARGIN));
}

const ANSWER_MARGIN = 0.05;
const MAX_ANSWER_MARGIN_MS = 50;

/**
 * The answer to a request whose body had not arrived by the deadline: which policy it was for is
 * unknown, so a plain continue (fail open), counted as a timeout.
 */
export function answerLate(deps: CurriDeps): CurriAnswer {
  return failure(undefined, undefined, 'timeout', `the request body did not arrive within ${deps.timeoutMs} ms`, deps);
}

/** The answer to a request whose body could not be read (too large, cut off): fail open, as for unparseable XML. */
export function answerUnreadable(reason: string, deps: CurriDeps): CurriAnswer {
  return failure(undefined, undefined, 'unparseable', reason, deps);
}

/** Whether a CURRI call of this policy goes on to its post-call apps. */
function queuesPostCall(policy: Policy): boolean {
  return policy.curri?.postCall !== false && policy.apps.some((app) => app.phase === 'post_call');
}

/**
 * Once CUCM has its answer: the real-time results are stored, then (the product's order) the
 * call's post-call apps are queued. Their templates read the stored results, so a call whose
 * results could not be stored is not queued.
 */
async function storeAndQueue(event: CallEvent, policy: Policy, running: Promise<RealtimeAnswer>, postCallFollows: boolean, deps: CurriDeps): Promise<void> {
  const realtime = await running;
  if (!realtime.stored) throw new Error(`${postCallFollows ? 'post-call apps not queued: ' : ''}${realtime.warning ?? 'the call was not stored'}`);
  if (!postCallFollows) return;
  try {
    await deps.enqueue(event);
  } catch (error) {
    // Not queued after all: the call ends with its real-time outcome (and its feed entry), as a
    // call without post-call apps does, rather than staying listed as running.
    const policyId = realtime.policy ?? policy.id;
    const final = await deps.store.saveRealtimeResults(event.call_id, policyId, realtime.app_data).catch(() => false);
    if (final) deps.observer?.callFinished(event.call_id, policyId, callStatus(Object.values(realtime.app_data)));
    throw error;
  }
}

/** The calling number of a call CUCM sent without one (no caller id). */
const ANONYMOUS = 'anonymous';

/** A call's calling number: as CUCM sent it, else the transformed one, else the placeholder of a call without caller id. */
export function callingNumberOf(callingNumber: string | undefined, transformedCallingNumber: string | undefined): string {
  return callingNumber || transformedCallingNumber || ANONYMOUS;
}

/**
 * The placeholder of a call without caller id (`withheld`: CUCM sent neither number) is
 * callhook's, for matching and templates: a block that renders it back
 * (`{{ event.calling_number }}`) leaves the absent number absent, not "anonymous".
 */
export function leaveWithheldNumberAbsent(directive: CurriDirective, withheld: boolean): void {
  if (withheld && directive.action === 'continue' && directive.callingNumber === ANONYMOUS) directive.callingNumber = '';
}

/** The call as an event, not yet checked: every field is a string the XACML reader decoded. */
function callOf(a: CurriAttributes): CallEvent {
  return {
    call_id: `curri-${randomUUID()}`,
    // A call without caller id still happened: it is an event, as the CDR ingester does it.
    calling_number: callingNumberOf(a.callingNumber, a.transformedCallingNumber),
    called_number: a.calledNumber || a.transformedCalledNumber,
    transformed_calling_number: a.transformedCallingNumber,
    transformed_called_number: a.transformedCalledNumber,
    calling_devicename: a.callingDeviceName,
    trigger_point_type: a.triggerPointType,
    timestamp: new Date().toISOString(),
  };
}

/** The two answers that do not depend on the call, built once: at the deadline, many are written at the same moment. */
const PLAIN_CONTINUE_XML = xacmlResponse({ action: 'continue' });
const REJECT_XML = xacmlResponse({ action: 'reject' });

function answer(directive: CurriDirective, outcome: CurriOutcome, event: CallEvent | undefined, after?: () => Promise<void>): CurriAnswer {
  return {
    xml: xmlOf(directive),
    decision: directive.action === 'reject' ? 'Deny' : 'Permit',
    outcome,
    call_id: event?.call_id,
    ...(after ? { afterAnswer: after } : {}),
  };
}

function xmlOf(directive: CurriDirective): string {
  if (directive.action === 'reject') return REJECT_XML;
  if (directive.action === 'continue' && !directive.callingName && !directive.callingNumber && !directive.calledNumber && !directive.greeting) return PLAIN_CONTINUE_XML;
  return xacmlResponse(directive);
}

/** The policy's error answer (continue unless `on_error: reject`), logged; what ran is still stored and post-call apps follow. */
function failure(event: CallEvent | undefined, policy: Policy | undefined, outcome: CurriOutcome, reason: string, deps: CurriDeps, after?: () => Promise<void>): CurriAnswer {
  deps.logger.warn({ call_id: event?.call_id, policy: policy?.id, outcome, reason }, 'curri: answering the error decision');
  return answer(policy?.curri?.onError === 'reject' ? { action: 'reject' } : { action: 'continue' }, outcome, event, after);
}
