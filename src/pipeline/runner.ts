import type { ErrorCode } from '../errors';
import { callStatus, type AppResult, type AttemptLogEntry, type CallState, type CallStatus, type Checkpoint } from '../model/call';
import type { Phase, Policy, WebhookApp } from '../policies/types';
import type { TemplateScope } from '../templates/engine';
import { credentialsIn, Redactor } from '../util/redact';
import { decideAttempt, type Decision } from '../webhook/retry-policy';
import type { AttemptOptions, AttemptReport, RequestTrace, Sender } from '../webhook/send';
import { GO, type DeliveryGate, type GateRequest, type WaitReason } from './gate';
import { noopObserver, type PipelineObserver } from './observer';
import { redactAttempts, redactResult } from './redact-result';
import { finalResult, skipResult } from './result';

/** What differs between the ways apps run: which phases, and where a retry waits. */
export interface RunMode {
  /** Apps of these phases run, real-time ones first, each phase in `order`. */
  readonly phases: readonly Phase[];
  /**
   * `queue`: one attempt per run; a retryable failure returns `retry` and the queue runs the call
   * again later (no worker slot held). `request`: retries happen inside the request
   * (axios-retry), the whole app bounded by its timeout (real-time apps, Call Test).
   */
  readonly retries: 'queue' | 'request';
}

export const QUEUED: RunMode = { phases: ['post_call'], retries: 'queue' };
export const REAL_TIME: RunMode = { phases: ['real_time'], retries: 'request' };

export interface RunnerDeps {
  sender: Sender;
  /** Where results go (Redis for queued and real-time calls, memory for Call Test). */
  checkpoint: Checkpoint;
  /** Configured secrets: every result and request trace passes through it before anything sees it. */
  redactor: Redactor;
  observer?: PipelineObserver | undefined;
  /** Aborts requests in flight (shutdown). */
  signal?: AbortSignal | undefined;
  /**
   * No request runs past this (epoch ms), whatever the app's own timeout: a CURRI request's
   * deadline. A deadline, not an AbortSignal: axios listening to a signal per request cost more
   * CPU than anything else on that path (profiled).
   */
  deadlineAt?: number | undefined;
  /** Rate limits and circuit breakers; without one, every app goes at once (Call Test). */
  gate?: DeliveryGate | undefined;
  /** The app this call has waited for, for its circuit, and since when (epoch ms); kept until the app has a result. */
  waiting?: { slug: string; sinceMs: number } | undefined;
}

/** A request as it may be shown: redacted, the body as a value. */
export interface ShownRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** One app of a run: its result, and the request it sent (redacted; undefined when none was sent in this run). */
export interface AppRun {
  app: WebhookApp;
  result: AppResult;
  request: ShownRequest | undefined;
}

export type RunOutcome =
  | { kind: 'finished'; status: CallStatus; runs: AppRun[] }
  /** `last`: the attempt that failed, redacted as stored, so the log can say why. */
  | { kind: 'retry'; slug: string; attempt: number; delayMs: number; last: AttemptLogEntry }
  /** Held back by the app's rate limit or its destination's circuit: no attempt spent (`sinceMs`: see Admission). */
  | { kind: 'wait'; slug: string; delayMs: number; reason: WaitReason; message: string; sinceMs?: number | undefined };

/**
 * Runs a policy's apps for one call, the one runner for every path (queued, real-time, Call
 * Test). Apps run in order; `when` and `on_failure: stop` are applied; each result is redacted,
 * then checkpointed before the next request is sent (the last one together with the final
 * status). An app with a stored result is never sent again, so a rerun (delayed retry, crash
 * redelivery) resumes where the last run stopped.
 */
export async function runApps(policy: Policy, state: CallState, mode: RunMode, deps: RunnerDeps): Promise<RunOutcome> {
  const observer = deps.observer ?? noopObserver;
  const { event } = state;
  const appData: Record<string, unknown> = { ...event.app_data, ...state.results };
  const scope: TemplateScope = { event, app_data: appData };
  const runs: AppRun[] = [];
  const unsaved: { slug: string; result: AppResult }[] = [];
  const flush = async () => {
    for (let next = unsaved.shift(); next; next = unsaved.shift()) await deps.checkpoint.saveResult(next.slug, next.result);
  };
  let stoppedBy: string | undefined;

  for (const app of appsOf(policy, mode.phases)) {
    const context = { callId: event.call_id, policy: policy.id, app: app.slug };
    const stored = state.results[app.slug];
    if (stored) {
      runs.push({ app, result: stored, request: undefined });
      if (stored.status === 'failed' && app.onFailure === 'stop') stoppedBy = app.slug;
      continue;
    }
    let run: AppRun;
    const skipped = skipResult(app, scope, stoppedBy);
    if (skipped) run = { app, result: skipped, request: undefined };
    else {
      // Results so far are written before this app's request goes out (or it waits).
      await flush();
      const sent = await sendApp(app, policy.id, scope, state, mode, deps);
      if (sent.kind !== 'sent') return sent;
      run = sent.run;
    }
    if (run.result.status === 'failed' && app.onFailure === 'stop') stoppedBy = app.slug;
    observer.result(context, run.result);
    runs.push(run);
    unsaved.push({ slug: app.slug, result: run.result });
    appData[app.slug] = run.result;
  }
  const last = unsaved.pop();
  await flush();
  // The call's status counts the results of its other phase too (a real-time CRM lookup that
  // failed before the call was queued): a call with a failed app is not completed.
  const earlier = policy.apps.filter((app) => !mode.phases.includes(app.phase) && state.results[app.slug]).map((app) => state.results[app.slug]!);
  const status = callStatus([...earlier, ...runs.map((r) => r.result)]);
  await deps.checkpoint.finish(status, last);
  return { kind: 'finished', status, runs };
}

/**
 * One app through the delivery gate (rate limit, circuit) and its attempt: a result, or why the
 * call must come back later (a retry, which spends an attempt; a wait, which does not).
 */
async function sendApp(app: WebhookApp, policyId: string, scope: TemplateScope, state: CallState, mode: RunMode, deps: RunnerDeps): Promise<{ kind: 'sent'; run: AppRun } | Exclude<RunOutcome, { kind: 'finished' }>> {
  const observer = deps.observer ?? noopObserver;
  const context = { callId: state.event.call_id, policy: policyId, app: app.slug };
  const gateRequest: GateRequest = {
    app,
    policyId,
    callId: state.event.call_id,
    scope,
    canWait: mode.retries === 'queue',
    waitingSinceMs: deps.waiting?.slug === app.slug ? deps.waiting.sinceMs : undefined,
  };
  // An OAuth2 token is fetched before the app's send slot is taken: a slot granted and then spent
  // waiting for a slow token endpoint would let the calls with later slots go in a burst with it.
  let prepared: AttemptOptions | undefined;
  let ready = true;
  if (app.auth.type === 'oauth2' && deps.sender.prepare) ({ options: prepared, ready } = await deps.sender.prepare(app, attemptOptions(app, mode, deps)));
  // No token: the attempt fails without sending, so it takes no slot and asks no circuit.
  const admission = deps.gate && ready ? await deps.gate.admit(gateRequest) : GO;
  if (admission.kind === 'wait') return { kind: 'wait', slug: app.slug, delayMs: admission.delayMs, reason: admission.reason, message: admission.message, sinceMs: admission.sinceMs };
  if (admission.kind === 'refuse') {
    const error = { code: admission.code ?? ('CALLHOOK_CIRCUIT_OPEN' as const), message: admission.message };
    const entry = { at: new Date().toISOString(), http_status: null, duration_ms: 0, error, retry_in_ms: null };
    return { kind: 'sent', run: { app, request: undefined, result: { status: 'failed', http_status: null, data: null, message: error.message, attempts: 0, duration_ms: 0, unresolved: [], error, attempts_log: [entry], request: null } } };
  }

  const previous = state.pending[app.slug] ?? [];
  const attempt = attemptsIn(previous) + 1;
  const attempted = await attemptApp(app, scope, attempt, mode, deps, prepared ?? attemptOptions(app, mode, deps), gateRequest, previous);
  if (attempted.kind === 'wait') return attempted;
  const { report, decision, tries } = attempted;
  const credentials = report.request ? credentialsIn(report.request.url, report.request.headers) : [];
  if (report.credential) credentials.push(report.credential);
  const redactor = credentials.length > 0 ? deps.redactor.with(credentials) : deps.redactor;
  const log = [...previous, ...tries];
  const willRetry = decision.action === 'retry' && mode.retries === 'queue';
  // One observation per request sent, with its own duration: each in-request retry counts, the
  // backoff waits between them do not, and a last try that failed before its request sent nothing
  // (the app's outcome then goes with the last request that was sent).
  const verdict = decision.action === 'success' ? 'success' : willRetry ? 'retry' : 'failed';
  const sent = report.error && UNSENT.has(report.error.code) ? tries.length - 1 : tries.length;
  for (let i = 0; i < sent; i++) observer.attempt(context, i === sent - 1 ? verdict : 'retry', tries[i]!.duration_ms, tries[i]!.http_status);
  if (decision.action === 'retry' && mode.retries === 'queue') {
    log[log.length - 1] = { ...log[log.length - 1]!, retry_in_ms: decision.delayMs };
    const saved = redactAttempts(log, redactor);
    await deps.checkpoint.savePending(app.slug, saved);
    return { kind: 'retry', slug: app.slug, attempt, delayMs: decision.delayMs, last: saved[saved.length - 1]! };
  }
  const request = traceOf(report.request, redactor);
  const bodyText = report.request?.bodyText;
  const result = finalResult(app, report, scope, {
    attempts: mode.retries === 'queue' ? attempt : report.attempts,
    log: log.slice(-(app.retryCount + 1)),
    request: request ? { method: request.method, url: request.url, headers: request.headers, body_bytes: bodyText === undefined ? 0 : Buffer.byteLength(bodyText) } : null,
  });
  // The one redaction step for everything stored, logged or returned about this app: its free
  // text only, so its status (what runApps decides on) is the one the attempt ended with.
  return { kind: 'sent', run: { app, result: redactResult(result, redactor), request } };
}

/** The errors an attempt ends with before its request goes out (the rendering, the OAuth2 token, the call's deadline). */
const UNSENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CALLHOOK_TEMPLATE_RENDER', 'CALLHOOK_REQUEST_TOO_LARGE', 'CALLHOOK_OAUTH_TOKEN', 'CALLHOOK_DEADLINE_PASSED']);

/**
 * The attempts a log records. A 401 to a stale OAuth2 token is logged with `retry_in_ms` 0 and
 * sent again with a fresh token: one attempt with the entry after it (a retry waits at
 * least 1 ms, see backoffDelay, so no other entry has `retry_in_ms` 0).
 */
function attemptsIn(log: readonly AttemptLogEntry[]): number {
  let attempts = 0;
  for (const entry of log) if (!isTokenRefresh(entry)) attempts += 1;
  return attempts;
}

/** A 401 answered with a fresh OAuth2 token (the next entry, or the next run, is its resend). */
function isTokenRefresh(entry: AttemptLogEntry | undefined): boolean {
  return entry?.http_status === 401 && entry.retry_in_ms === 0;
}

/** The apps of the given phases in run order: real-time first, then post-call, each in `order`. */
export function appsOf(policy: Policy, phases: readonly Phase[]): WebhookApp[] {
  return (['real_time', 'post_call'] as const).filter((p) => phases.includes(p)).flatMap((phase) => policy.apps.filter((a) => a.phase === phase));
}

/**
 * An attempt's deadline from now: the app's timeout, or less when the run has a deadline of its
 * own. A run whose deadline has passed gets a budget of 0: the sender then sends nothing.
 */
function attemptOptions(app: WebhookApp, mode: RunMode, deps: RunnerDeps): AttemptOptions {
  const now = Date.now();
  const budgetMs = deps.deadlineAt === undefined ? app.timeoutMs : Math.max(0, Math.min(app.timeoutMs, deps.deadlineAt - now));
  return { signal: deps.signal, retryInRequest: mode.retries === 'request', deadlineAt: now + budgetMs, budgetMs };
}

/**
 * One attempt of an app and the decision on it, each request sent told to the gate. A 401 to an
 * OAuth2 token from the cache (it may have been revoked early) is sent once more with a fresh
 * token, inside the same deadline, once per attempt; like any request it waits for its token,
 * then for its rate-limit slot and its circuit. When that means waiting, the 401 is kept in the
 * pending log and the call's next run sends the resend.
 */
async function attemptApp(app: WebhookApp, scope: TemplateScope, attempt: number, mode: RunMode, deps: RunnerDeps, options: AttemptOptions, gateRequest: GateRequest, previous: readonly AttemptLogEntry[]) {
  const callId = (scope.event as { call_id: string }).call_id;
  let report = await deps.sender.attempt(app, callId, scope, options);
  if (deps.gate) await deps.gate.settle(gateRequest, report.outcome);
  const numberOf = (r: AttemptReport) => (mode.retries === 'queue' ? attempt : r.attempts);
  // Not again for a resend that waited for its slot: it answers the 401 that ends the log.
  const decision: Decision = decideAttempt(report.outcome, app, numberOf(report), app.auth.type === 'oauth2' && report.refreshable && !isTokenRefresh(previous.at(-1)));
  if (decision.action !== 'refresh-auth') return { kind: 'attempted' as const, report, decision, tries: report.tries };
  const tries = [...report.tries.slice(0, -1), { ...report.tries[report.tries.length - 1]!, retry_in_ms: 0 }];
  let resend: AttemptOptions = { ...options, authorization: undefined, staleCredential: report.credential };
  let ready = true;
  if (deps.sender.prepare) ({ options: resend, ready } = await deps.sender.prepare(app, resend));
  const admission = deps.gate && ready ? await deps.gate.admit(gateRequest) : GO;
  if (admission.kind === 'refuse') return { kind: 'attempted' as const, report, decision: decideAttempt(report.outcome, app, numberOf(report)), tries: report.tries };
  if (admission.kind === 'wait') {
    const observer = deps.observer ?? noopObserver;
    for (const tried of tries) observer.attempt({ callId, policy: gateRequest.policyId, app: app.slug }, 'retry', tried.duration_ms, tried.http_status);
    const log = [...previous, ...tries];
    await deps.checkpoint.savePending(app.slug, redactAttempts(log, report.credential ? deps.redactor.with([report.credential]) : deps.redactor));
    return { kind: 'wait' as const, slug: app.slug, delayMs: admission.delayMs, reason: admission.reason, message: admission.message, sinceMs: admission.sinceMs };
  }
  const resent = await deps.sender.attempt(app, callId, scope, resend);
  if (deps.gate) await deps.gate.settle(gateRequest, resent.outcome);
  return { kind: 'attempted' as const, report: resent, decision: decideAttempt(resent.outcome, app, numberOf(resent)), tries: [...tries, ...resent.tries] };
}

/** The request as sent, redacted: configured secrets, this attempt's credential and credential headers hidden. */
function traceOf(request: RequestTrace | undefined, redactor: Redactor): ShownRequest | undefined {
  if (!request) return undefined;
  return {
    method: request.method,
    url: redactor.empty ? request.url : redactor.text(request.url),
    headers: redactor.headers(request.headers),
    body: redactor.empty ? request.body : redactor.deep(request.body),
  };
}
