import axios, { isAxiosError, type AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import { TemplateError, type ErrorCode } from '../errors';
import type { WebhookApp } from '../policies/types';
import { renderBody } from '../templates/body';
import type { TemplateScope } from '../templates/engine';
import { checkRenderedUrl, renderHeaders, renderUrl } from '../templates/request';
import { Redactor } from '../util/redact';
import { USER_AGENT } from '../version';
import { authorizationHeader } from './auth';
import { OAuthTokenCache, OAuthTokenError } from './oauth';
import { classifyError, DEADLINE_EXCEEDED, inRequestRetries } from './http-outcome';
import { retryingClient } from './http-client';
import { parseRetryAfter, type AttemptOutcome } from './retry-policy';

export interface SendDeps {
  http: AxiosInstance;
  tokens: OAuthTokenCache;
  /** Hides configured secrets in what is stored: a receiver may echo credentials back. */
  redactor?: Redactor;
}

/** The request as sent, for Call Test (its Authorization header is redacted before display). */
export interface RequestTrace {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Everything one attempt produced; the caller decides on retries with `decideRetry(outcome)`. */
export interface AttemptReport {
  outcome: AttemptOutcome;
  request: RequestTrace | undefined;
  httpStatus: number | null;
  /** Parsed JSON response, its text when not JSON, null when empty. */
  data: unknown;
  error: { code: ErrorCode; message: string } | null;
  durationMs: number;
  unresolved: string[];
  /** HTTP requests made: 1, or more when retried inside the request (`retryInRequest`). */
  attempts: number;
}

export interface AttemptOptions {
  /** Aborts the attempt from outside (shutdown). */
  signal?: AbortSignal;
  /**
   * Retry inside this call with axios-retry (real-time apps, Call Test): same rules as the
   * queue's retries, and the app's `timeout` bounds all attempts and waits together.
   */
  retryInRequest?: boolean;
}

/**
 * Renders and sends one attempt of an app for a call. Never throws: template, auth, network
 * and HTTP failures are all described in the report.
 */
export async function sendAttempt(
  app: WebhookApp,
  callId: string,
  scope: TemplateScope,
  deps: SendDeps,
  options: AttemptOptions = {},
): Promise<AttemptReport> {
  const started = performance.now();
  const unresolved = new Set<string>();
  const retries = { count: 0 };
  // Fields spelled out, not spread: the spread of differently shaped partials cost ~4 µs a call.
  const report = ({ outcome, request, httpStatus, data, error }: Omit<AttemptReport, 'durationMs' | 'unresolved' | 'attempts'>): AttemptReport => ({
    outcome,
    request,
    httpStatus,
    data,
    error,
    durationMs: Math.round(performance.now() - started),
    unresolved: [...unresolved],
    attempts: 1 + retries.count,
  });

  let request: RequestTrace;
  try {
    request = renderRequest(app, callId, scope, unresolved);
  } catch (error) {
    const message = error instanceof TemplateError ? error.message : `template failed: ${(error as Error).message}`;
    return report(failure({ kind: 'fatal', code: 'template' }, undefined, 'CALLHOOK_TEMPLATE_RENDER', message));
  }

  let token: string | undefined;
  try {
    const header = authorizationHeader(app.auth, deps.tokens);
    const authorization = typeof header === 'object' ? await header : header;
    if (authorization) request.headers.Authorization = authorization;
    token = app.auth.type === 'oauth2' ? authorization?.slice('Bearer '.length) : undefined;
    // One deadline for the attempt: a retry after a 401 does not get a fresh timeout.
    const deadlineAt = Date.now() + app.timeoutMs;
    let response = await send(deps.http, app, request, deadlineAt, options, retries);
    if (response.status === 401 && app.auth.type === 'oauth2' && token) {
      // The token may have been revoked or rotated early: one fresh token, one more try.
      deps.tokens.invalidate(app.auth, token);
      request.headers.Authorization = `Bearer ${await deps.tokens.getToken(app.auth)}`;
      response = await send(deps.http, app, request, deadlineAt, options, retries);
    }
    const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
    const outcome: AttemptOutcome =
      retryAfterMs === undefined
        ? { kind: 'response', status: response.status }
        : { kind: 'response', status: response.status, retryAfterMs };
    const ok = response.status >= 200 && response.status < 300;
    return report({
      outcome,
      request,
      httpStatus: response.status,
      data: parseBody(scrubEchoedSecrets(response.data, deps.redactor, request.headers.Authorization)),
      error: ok ? null : { code: 'CALLHOOK_HTTP_STATUS', message: `HTTP ${response.status}` },
    });
  } catch (error) {
    if (error instanceof OAuthTokenError) {
      const outcome: AttemptOutcome = error.retryable ? { kind: 'network', code: 'oauth' } : { kind: 'fatal', code: 'oauth' };
      return report(failure(outcome, request, error.code, error.message));
    }
    const { outcome, code, message } = classifyError(error as AxiosError, app);
    return report(failure(outcome, request, code, message));
  }
}

function failure(
  outcome: AttemptOutcome,
  request: RequestTrace | undefined,
  code: ErrorCode,
  message: string,
): Omit<AttemptReport, 'durationMs' | 'unresolved' | 'attempts'> {
  return { outcome, request, httpStatus: null, data: null, error: { code, message } };
}

/** Builds method, URL, headers and JSON body; throws TemplateError when a value is unsafe. */
function renderRequest(app: WebhookApp, callId: string, scope: TemplateScope, unresolved: Set<string>): RequestTrace {
  const url = renderUrl(app.url, app.query, scope, unresolved);
  checkRenderedUrl(url);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': USER_AGENT,
  };
  const custom = renderHeaders(app.headers, scope, unresolved);
  for (const [name, value] of Object.entries(custom)) {
    // Header names are case-insensitive: a custom one replaces the default of the same name.
    for (const existing of Object.keys(headers)) if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
    headers[name] = value;
  }
  headers['Idempotency-Key'] = `${callId}.${app.slug}`;
  const body = app.body === undefined ? undefined : renderBody(app.body, scope, unresolved);
  return { method: app.method, url, headers, body };
}

/**
 * One HTTP exchange bounded by `deadlineAt` (epoch ms; all in-request retries and waits
 * included). A status that axios-retry gave up on comes back as the response, not as an error.
 */
async function send(
  http: AxiosInstance,
  app: WebhookApp,
  request: RequestTrace,
  deadlineAt: number,
  options: AttemptOptions,
  retries: { count: number },
): Promise<AxiosResponse<string>> {
  // An axios CancelToken and a timer rather than an AbortSignal: creating an AbortSignal, and
  // axios adding and removing its listener, cost ~11 us of CPU per request (profiled); the
  // token and timer under 1 us.
  const deadline = axios.CancelToken.source();
  const timer = setTimeout(() => deadline.cancel(DEADLINE_EXCEEDED), Math.max(0, deadlineAt - Date.now()));
  try {
    const client = options.retryInRequest ? retryingClient(http) : http;
    return await client.request<string>({
      method: request.method,
      url: request.url,
      headers: request.headers,
      data: request.body === undefined ? undefined : JSON.stringify(request.body),
      maxContentLength: app.maxResponseBytes,
      cancelToken: deadline.token,
      signal: options.signal,
      ...(options.retryInRequest ? { 'axios-retry': inRequestRetries(app, deadlineAt, retries) } : {}),
    });
  } catch (error) {
    if (isAxiosError(error) && error.response) return error.response as AxiosResponse<string>;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** A receiver may echo credentials back: hide configured secrets and this request's credential. */
function scrubEchoedSecrets(body: unknown, redactor: Redactor | undefined, authorization: string | undefined): unknown {
  if (typeof body !== 'string' || body === '') return body;
  const credential = credentialOf(authorization);
  if (credential.length === 0) return redactor ? redactor.text(body) : body;
  return (redactor ?? NO_SECRETS).with(credential).text(body);
}

const NO_SECRETS = new Redactor([]);

/** The credential part of an Authorization header (token, Basic's base64). */
export function credentialOf(header: string | undefined): string[] {
  const match = /^\S+ (.+)$/.exec(header ?? '');
  return match?.[1] ? [match[1]] : [];
}

function parseBody(text: unknown): unknown {
  if (typeof text !== 'string' || text.length === 0) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
