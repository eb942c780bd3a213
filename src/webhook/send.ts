import axios, { isAxiosError, type AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import { RequestTooLargeError, TemplateError } from '../errors';
import type { AppError, AttemptLogEntry } from '../model/call';
import type { AppBody, WebhookApp } from '../policies/types';
import { renderBody } from '../templates/body';
import { renderWithin, type TemplateScope } from '../templates/engine';
import { checkRenderedUrl, headersOnTheWire, renderField, renderHeaders, renderUrl } from '../templates/request';
import { deadlineReached } from '../util/deadline';
import { jsonDepthExceeds } from '../util/json-depth';
import { parseJsonExactIntegers } from '../util/json-integers';
import { USER_AGENT } from '../version';
import { authorizationHeader } from './auth';
import { classifyError, DEADLINE_EXCEEDED, endsExchange, inRequestRetries, loggedTry, refusedAnswer, responseOutcome, type TryLog } from './http-outcome';
import { retryingClient, tlsAgentFor } from './http-client';
import { signatureHeaders } from './signing';
import { OAuthTokenCache, OAuthTokenError, type CachedToken } from './oauth';
import type { AttemptOutcome } from './retry-policy';

/** The request as sent. Holds credentials: redact it before it is shown or stored. */
export interface RequestTrace {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  /** The body as sent (JSON), undefined without a body. */
  bodyText: string | undefined;
}

/** Everything one attempt produced; the runner decides what comes next with `decideAttempt(outcome)`. */
export interface AttemptReport {
  outcome: AttemptOutcome;
  request: RequestTrace | undefined;
  /** The secret part of the Authorization header sent (token, Basic's base64), for redaction. */
  credential: string | undefined;
  /**
   * A 401 to this attempt may be answered by a fresh OAuth2 token: it carried a token from the
   * cache (one that may have been revoked early), not one fetched for it, nor a replacement of a
   * refused token that no receiver has accepted since (OAuthTokenCache).
   */
  refreshable: boolean;
  httpStatus: number | null;
  /** Parsed JSON response, its text when not JSON (or nested too deeply), null when empty. */
  data: unknown;
  error: AppError | null;
  durationMs: number;
  unresolved: string[];
  /** HTTP requests made: 1, or more when retried inside the request (`retryInRequest`). */
  attempts: number;
  /** Each of those requests (not redacted); the last one's retry_in_ms is null. */
  tries: AttemptLogEntry[];
}

export interface AttemptOptions {
  /** Aborts the attempt from outside (shutdown). */
  signal?: AbortSignal | undefined;
  /**
   * Retry inside this exchange with axios-retry (real-time apps, Call Test): same decision as the
   * queue's retries, and the deadline bounds all requests and waits together.
   */
  retryInRequest?: boolean;
  /** When the attempt must be over, epoch ms. @defaultValue now + the app's timeout */
  deadlineAt?: number;
  /** How long that deadline allowed in all, for the timeout error. @defaultValue the app's timeout */
  budgetMs?: number;
  /** An OAuth2 token the receiver refused (401): drop it and fetch a fresh one first. */
  staleCredential?: string | undefined;
  /** The Authorization header `prepare` waited for (pending still if the deadline came first): used instead of asking again. */
  authorization?: Promise<string> | undefined;
  /** The cache's token that `authorization` came from, when it did not need a fetch (set by `prepare`). */
  cachedToken?: CachedToken | undefined;
}

/** Sends one attempt of an app: what the runner needs from the HTTP side (a fake in unit tests). */
export interface Sender {
  attempt(app: WebhookApp, callId: string, scope: TemplateScope, options?: AttemptOptions): Promise<AttemptReport>;
  /**
   * Waits, within the options' deadline, for what the request needs before it can go (an OAuth2
   * token), and returns the options that carry it to `attempt`. `ready` is false when it did not
   * come: `attempt` then reports why without sending anything.
   */
  prepare?(app: WebhookApp, options: AttemptOptions): Promise<{ options: AttemptOptions; ready: boolean }>;
}

/** Responses nested deeper than this are kept as text: stored results are walked and serialised. */
const MAX_RESPONSE_DEPTH = 100;

/**
 * The HTTP side of an app: renders the request, adds its credential, makes one exchange with the
 * shared keep-alive client and reports what happened. Never throws: template, auth, network and
 * HTTP failures are all described in the report.
 */
export class HttpSender implements Sender {
  constructor(
    readonly http: AxiosInstance,
    readonly tokens: OAuthTokenCache,
  ) {}

  async prepare(app: WebhookApp, options: AttemptOptions): Promise<{ options: AttemptOptions; ready: boolean }> {
    const cachedToken = this.tokenFor(app, options);
    const header = authorizationHeader(app.auth, this.tokens);
    if (typeof header !== 'object') return { options, ready: true };
    header.catch(() => undefined); // attempt reports a failure (no token request is repeated)
    const ready = await withinDeadline(header, options.deadlineAt, options.budgetMs ?? app.timeoutMs).then(
      () => true,
      () => false,
    );
    return { options: { ...options, authorization: header, cachedToken }, ready };
  }

  /** Drops a token a receiver refused, then the cached token the app's header will carry, if it needs no fetch. */
  private tokenFor(app: WebhookApp, options: AttemptOptions): CachedToken | undefined {
    if (app.auth.type !== 'oauth2') return undefined;
    if (options.staleCredential) this.tokens.invalidate(app.auth, options.staleCredential);
    return this.tokens.cached(app.auth);
  }

  async attempt(app: WebhookApp, callId: string, scope: TemplateScope, options: AttemptOptions = {}): Promise<AttemptReport> {
    const started = performance.now();
    const unresolved = new Set<string>();
    const log: TryLog = { entries: [], startedAt: Date.now() };
    let request: RequestTrace | undefined;
    let credential: string | undefined;
    let refreshable = false;
    // Fields spelled out, not spread: the spread of differently shaped partials cost ~4 µs a call.
    const report = (outcome: AttemptOutcome, httpStatus: number | null, data: unknown, error: AttemptReport['error']): AttemptReport => {
      log.entries.push(loggedTry(log, httpStatus, error, null));
      return {
        outcome,
        request,
        credential,
        refreshable,
        httpStatus,
        data,
        error,
        durationMs: Math.round(performance.now() - started),
        unresolved: [...unresolved],
        attempts: log.entries.length,
        tries: log.entries,
      };
    };

    try {
      request = renderRequest(app, callId, scope, unresolved);
    } catch (error) {
      // Neither is retried: the next attempt would render the same.
      if (error instanceof RequestTooLargeError) return report({ kind: 'fatal', code: 'too-large' }, null, null, { code: error.code, message: error.message });
      const message = error instanceof TemplateError ? error.message : `template failed: ${(error as Error).message}`;
      return report({ kind: 'fatal', code: 'template' }, null, null, { code: 'CALLHOOK_TEMPLATE_RENDER', message });
    }
    // Past the deadline, the request is rendered but never sent: the result shows no request.
    if (deadlinePassed(options)) {
      request = undefined;
      return report(...deadlinePassedReport());
    }
    try {
      const cachedToken = options.authorization ? options.cachedToken : this.tokenFor(app, options);
      const header = options.authorization ?? authorizationHeader(app.auth, this.tokens);
      const authorization = typeof header === 'object' ? await withinDeadline(header, options.deadlineAt, options.budgetMs ?? app.timeoutMs) : header;
      // Checked again at the last moment: the token (or the event loop) may have taken what was left.
      if (deadlinePassed(options)) {
        request = undefined;
        return report(...deadlinePassedReport());
      }
      if (authorization) {
        request.headers.Authorization = authorization;
        credential = authorization.slice(authorization.indexOf(' ') + 1);
      }
      const response = await exchange(this.http, app, request, options, log);
      const ok = response.status >= 200 && response.status < 300;
      if (app.auth.type === 'oauth2' && credential) {
        const fromCache = cachedToken?.token === credential;
        refreshable = fromCache && !cachedToken.replacement;
        // A token fetched for this attempt, or a replacement, that a receiver took: a 401 to it later may be a revocation.
        if (ok && !refreshable) this.tokens.accepted(app.auth, credential);
      }
      return report(responseOutcome(response), response.status, parseBody(response.data), ok ? null : { code: 'CALLHOOK_HTTP_STATUS', message: `HTTP ${response.status}` });
    } catch (error) {
      if (error instanceof OAuthTokenError) {
        return report(error.retryable ? { kind: 'network', code: 'oauth' } : { kind: 'fatal', code: 'oauth' }, null, null, { code: error.code, message: error.message });
      }
      const { outcome, code, message } = classifyError(error as AxiosError, app);
      return report(outcome, null, null, { code, message });
    }
  }
}

/**
 * Builds method, URL, headers and body (JSON, form or text, as the app says), signed when the app
 * has a signing key; throws TemplateError when a value is unsafe, RequestTooLargeError when the
 * request is over the app's max_request_bytes (its loops stop there, see renderWithin).
 */
export function renderRequest(app: WebhookApp, callId: string, scope: TemplateScope, unresolved: Set<string>): RequestTrace {
  const request = renderWithin(app.maxRequestBytes, () => new RequestTooLargeError(app.maxRequestBytes), () => renderParts(app, callId, scope, unresolved));
  checkRequestSize(request, app.maxRequestBytes);
  return request;
}

function renderParts(app: WebhookApp, callId: string, scope: TemplateScope, unresolved: Set<string>): RequestTrace {
  const url = renderUrl(app.url, app.query, scope, unresolved);
  checkRenderedUrl(url);
  const headers: Record<string, string> = {
    'Content-Type': app.contentType,
    'User-Agent': USER_AGENT,
  };
  const custom = renderHeaders(app.headers, scope, unresolved);
  for (const [name, value] of Object.entries(custom)) {
    // Header names are case-insensitive: a custom one replaces the default of the same name.
    for (const existing of Object.keys(headers)) if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
    headers[name] = value;
  }
  const id = `${callId}.${app.slug}`;
  headers['Idempotency-Key'] = id;
  const payload = app.body === undefined ? undefined : renderPayload(app.body, scope, unresolved);
  if (app.signingKeys) Object.assign(headers, signatureHeaders(app.signingKeys, id, payload?.text ?? ''));
  return { method: app.method, url, headers, body: payload?.shown, bodyText: payload?.text };
}

/** @throws RequestTooLargeError when URL, headers and body together are over `maxBytes` (UTF-8). */
function checkRequestSize(request: RequestTrace, maxBytes: number): void {
  let chars = request.url.length + (request.bodyText?.length ?? 0);
  for (const name in request.headers) chars += name.length + request.headers[name]!.length;
  // A UTF-16 unit is at most 3 bytes of UTF-8: nearly every request is far enough under the limit not to be counted.
  if (chars * 3 <= maxBytes) return;
  let bytes = Buffer.byteLength(request.url) + Buffer.byteLength(request.bodyText ?? '');
  for (const name in request.headers) bytes += Buffer.byteLength(name) + Buffer.byteLength(request.headers[name]!);
  if (bytes > maxBytes) throw new RequestTooLargeError(maxBytes);
}

/**
 * A body as sent (`text`) and as shown in results and Call Test (`shown`). Call data stays
 * inside values: JSON.stringify quotes it, form encoding percent-encodes `&` and `=`, and a text
 * template inserts it as is (XML needs the `xml` helper, as the README says).
 */
function renderPayload(body: AppBody, scope: TemplateScope, unresolved: Set<string>): { shown: unknown; text: string } {
  switch (body.format) {
    case 'json': {
      const value = renderBody(body.node, scope, unresolved);
      return { shown: value, text: JSON.stringify(value) };
    }
    case 'form': {
      const fields: Record<string, string> = {};
      for (const [name, template] of body.fields) fields[name] = renderField(`body.${name}`, template, scope, unresolved);
      return { shown: fields, text: new URLSearchParams(fields).toString() };
    }
    case 'text': {
      const text = renderField('body', body.template, scope, unresolved);
      return { shown: text, text };
    }
  }
}

/**
 * One HTTP exchange bounded by the deadline (in-request retries and waits included). A status
 * that axios-retry gave up on comes back as the response, not as an error.
 */
async function exchange(http: AxiosInstance, app: WebhookApp, request: RequestTrace, options: AttemptOptions, log: TryLog): Promise<AxiosResponse<string>> {
  const deadlineAt = options.deadlineAt ?? Date.now() + app.timeoutMs;
  // An axios CancelToken and a timer rather than an AbortSignal: creating an AbortSignal, and
  // axios adding and removing its listener, cost ~11 us of CPU per request (profiled); the
  // token and timer under 1 us.
  const deadline = axios.CancelToken.source();
  // Cancelled from the next check phase, not in the timer: a CURRI answer due at the same
  // deadline is written from its own timer first, before this request's clean-up and its app's
  // results (and those of every other call whose deadline came in the same turn).
  // (The inner closure is made only when the deadline comes.)
  const timer = setTimeout(() => setImmediate(() => deadline.cancel(DEADLINE_EXCEEDED + (options.budgetMs ?? app.timeoutMs))), Math.max(0, deadlineAt - Date.now()));
  try {
    const client = options.retryInRequest ? retryingClient(http) : http;
    return await client.request<string>({
      method: request.method,
      url: request.url,
      headers: headersOnTheWire(request.headers),
      // As bytes: axios re-parses a JSON string body to check it (transformRequest), a Buffer it sends as is.
      data: request.bodyText === undefined ? undefined : Buffer.from(request.bodyText),
      maxContentLength: app.maxResponseBytes,
      cancelToken: deadline.token,
      signal: options.signal,
      ...(app.tls ? { httpsAgent: tlsAgentFor(http, app.tls) } : {}),
      ...(options.retryInRequest ? { validateStatus: endsExchange(app), 'axios-retry': inRequestRetries(app, deadlineAt, log) } : {}),
    });
  } catch (error) {
    const answer = isAxiosError(error) ? refusedAnswer(error, app, options.retryInRequest === true) : undefined;
    if (answer) return answer as AxiosResponse<string>;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The report's arguments for an attempt whose deadline came before its request went out. */
function deadlinePassedReport(): [AttemptOutcome, null, null, AppError] {
  return [{ kind: 'fatal', code: 'deadline' }, null, null, { code: 'CALLHOOK_DEADLINE_PASSED', message: DEADLINE_PASSED_MESSAGE }];
}

export const DEADLINE_PASSED_MESSAGE = "the call's deadline passed before the request was sent: nothing was sent";

/**
 * Whether the attempt's deadline has come before its request went out. A request sent then would
 * be cancelled at once, after the receiver got it (its side effect done), and recorded as failed.
 */
function deadlinePassed(options: AttemptOptions): boolean {
  return options.deadlineAt !== undefined && deadlineReached(options.deadlineAt);
}

/**
 * A token still being fetched when the app's deadline comes: the request is not sent (it would be
 * cancelled at once, after the receiver got it, and then sent again as a retry). The fetch goes
 * on and fills the cache for the next attempt.
 */
async function withinDeadline<T>(token: Promise<T>, deadlineAt: number | undefined, budgetMs: number): Promise<T> {
  if (deadlineAt === undefined) return token;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new OAuthTokenError(`no OAuth2 token within ${budgetMs} ms (the app's timeout): the request was not sent`, true)), Math.max(0, deadlineAt - Date.now()));
  });
  try {
    return await Promise.race([token, late]);
  } finally {
    clearTimeout(timer);
  }
}

function parseBody(text: unknown): unknown {
  if (typeof text !== 'string' || text.length === 0) return null;
  // A deeply nested response stays text, so storing and redacting it cannot recurse too deep.
  if (text.length > MAX_RESPONSE_DEPTH * 2 && jsonDepthExceeds(text, MAX_RESPONSE_DEPTH)) return text;
  try {
    // Integers beyond 2^53 keep their digits (as text): a later app sends the id it was given.
    return parseJsonExactIntegers(text);
  } catch {
    return text;
  }
}
