import { randomUUID } from 'node:crypto';
import { parseDuration } from '../util/duration';
import { brokenWhileSendingLargeBody, decideRetry, type AttemptOutcome, type RetryRules } from './retry';
import type { CallEventInput, CallRecord, CallRow, CallStatus, CallTestReport, EnqueueResult, PoliciesAnswer, RealtimeAnswer, StatsAnswer } from './types';

/** The part of `fetch` the client uses (Node's global fetch by default; pass your own for a proxy or a test). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }>;

export interface ClientOptions {
  /** The API's address, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** `CALLHOOK_API_TOKEN`, when the API has one: sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Retries after the first attempt, on 503 and network errors (see decideRetry). @defaultValue 5 */
  retries?: number | undefined;
  /** First retry delay in ms, doubled each time; a longer Retry-After wins. @defaultValue 500 */
  retryDelayMs?: number | undefined;
  /** Longest wait between two attempts, in ms. @defaultValue 30000 */
  maxRetryDelayMs?: number | undefined;
  /** Bound on one attempt, in ms (a long poll of the results feed gets its `wait` and 1 s on top). @defaultValue 30000 */
  timeoutMs?: number | undefined;
  /**
   * The largest request body the client sends, in bytes: a larger one is refused before any
   * request (CallhookApiError 413 `CALLHOOK_EVENT_TOO_LARGE`). Lower it to a proxy's body limit.
   * @defaultValue 16777216 (16 MiB, the API's limit for a batch)
   */
  maxBodyBytes?: number | undefined;
  fetch?: FetchLike | undefined;
}

/** `GET /v1/calls` filters (README, Results for downstream apps). */
export interface ListCallsQuery {
  status?: CallStatus | CallStatus[] | undefined;
  policy?: string | undefined;
  /** The calling or the called number, exactly or by its digits. */
  number?: string | undefined;
  /** ISO 8601, or a duration back from now with its unit (`1h`, `7d`; a number alone is refused). */
  since?: string | undefined;
  until?: string | undefined;
  /** 1-500. @defaultValue 50 */
  limit?: number | undefined;
  /** `next_cursor` of the previous page. */
  cursor?: string | undefined;
}

export interface CallPage {
  calls: CallRow[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

export interface ReplayAnswer {
  call_id: string;
  status: 'queued';
  /** Slugs of the apps that will run again. */
  replayed: string[];
}

/** A Call Test request: the policy to run and an event. */
export interface CallTestInput extends CallEventInput {
  policy: string;
  /** @defaultValue 'all' */
  phase?: 'all' | 'post_call' | 'real_time' | undefined;
}

/** A duration with its unit, `500ms`, `30s` or `1m`: a number alone is not one (the API refuses it). */
export type WaitDuration = `${number}ms` | `${number}s` | `${number}m`;

export interface ResultsOptions {
  /** Start after this feed entry id; `0` for the oldest entry kept. @defaultValue '0' */
  after?: string | undefined;
  /** Entries per request, 1-500. @defaultValue 100 */
  limit?: number | undefined;
  /** Keep waiting for new entries (long poll) once the feed is read to its end. @defaultValue true */
  follow?: boolean | undefined;
  /** How long one long poll waits, with its unit (`500ms`, `30s`, `1m`), at most `60s`. @defaultValue '30s' */
  wait?: WaitDuration | undefined;
  /** Stops the iteration (the iterator then ends without an error). */
  signal?: AbortSignal | undefined;
}

/** One entry of the results feed: a call as it was when it reached a final status. */
export interface ResultEntry {
  /** Its position in the feed: pass as `after` to resume after it. */
  id: string;
  call: CallRecord;
}

/**
 * An error answer of the API: `{error: {code, message, problems?}}` with its HTTP status; or, with
 * code `HTTP_<status>`, an answer that is not callhook's JSON (a proxy's page or JSON error, an
 * empty 204, a body without the route's fields), a 2xx one included. A body over `maxBodyBytes`
 * is refused by the client itself, before any request, as the API would: 413 `CALLHOOK_EVENT_TOO_LARGE`.
 */
export class CallhookApiError extends Error {
  override name = 'CallhookApiError';
  constructor(
    readonly status: number,
    /** Its stable code (README, Error codes), e.g. `CALLHOOK_EVENT_INVALID`. */
    readonly code: string,
    message: string,
    /** For invalid events and queries: each problem, naming its field. */
    readonly problems: readonly string[] = [],
  ) {
    super(`${code}: ${message}`);
  }
}

/**
 * No answer from the API, after the retries decideRetry allows: the request could not be sent,
 * the connection broke, or no answer came in time (`code` TIMEOUT). An answer that did come, an
 * error or not callhook's JSON, is a CallhookApiError.
 */
export class CallhookNetworkError extends Error {
  override name = 'CallhookNetworkError';
  constructor(
    readonly method: string,
    readonly url: string,
    /** Attempts made, the first one included. */
    readonly attempts: number,
    /** The socket error under fetch's (`ECONNREFUSED`, `ECONNRESET`...), `TIMEOUT`, or undefined when fetch gave none. */
    readonly code: string | undefined,
    options: { cause: unknown; why?: string | undefined },
  ) {
    super(`${method} ${url}: no answer (${code ?? 'network error'}) after ${attempts} attempt${attempts === 1 ? '' : 's'}${options.why ? `: ${options.why}` : ''}`, { cause: options.cause });
  }
}

/** maxBodyBytes: the API's limit for a batch (LIMITS.batchBodyBytes; a test checks they agree). */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
const DEFAULTS = { retries: 5, retryDelayMs: 500, maxRetryDelayMs: 30_000, timeoutMs: 30_000, maxBodyBytes: DEFAULT_MAX_BODY_BYTES };
/** What a long poll waits for beyond its `wait`: the server's timer and the answer's way back. */
const LONG_POLL_MARGIN_MS = 1000;
/** The longest `wait` the API takes (a longer one is refused at once). */
const MAX_WAIT_MS = 60_000;

/**
 * A client of callhook's HTTP API. Calls are queued once per `call_id`: send an event again
 * (after a timeout, a 503, a crash of your own) and it answers `duplicate` instead of queueing
 * it twice. Requests that are safe to resend are retried on 503 (honouring Retry-After) and
 * on network errors; replay, real-time and Call Test only when the API said nothing was done
 * (503) or the request never left (connection refused).
 */
export class CallhookClient {
  private readonly options: Required<Omit<ClientOptions, 'token' | 'fetch'>> & Pick<ClientOptions, 'token'>;
  private readonly fetch: FetchLike;

  /**
   * @throws TypeError for an option no request could use: a negative or non-numeric number, a
   * URL that is not http(s) or holds a user or password, a token an HTTP header cannot carry.
   */
  constructor(options: ClientOptions) {
    // An option given as undefined (`retries: process.env.X ? Number(...) : undefined`) keeps its default.
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as ClientOptions;
    this.options = { ...DEFAULTS, ...given, url: options.url.replace(/\/+$/, '') };
    for (const name of ['retries', 'retryDelayMs', 'maxRetryDelayMs', 'timeoutMs', 'maxBodyBytes'] as const) {
      const value = this.options[name];
      const least = name === 'timeoutMs' || name === 'maxBodyBytes' ? 1 : 0;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < least) throw new TypeError(`callhook client: ${name} must be a number of at least ${least}, not ${String(value)}`);
    }
    checkUrl(this.options.url);
    if (this.options.token) checkToken(this.options.token);
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  }

  /**
   * Queues one call (`POST /v1/calls`). A call_id is set when the event has none, so the
   * client's own retries are safe; the answer says which.
   * @returns `queued`, or `duplicate` when that call_id was queued before (not queued again).
   * @throws CallhookApiError `CALLHOOK_EVENT_INVALID` (400) with `problems` for an invalid event.
   */
  async send(event: CallEventInput): Promise<EnqueueResult> {
    const answer = await this.request<{ calls: EnqueueResult[] }>('POST', '/v1/calls', { body: withCallId(event), idempotent: true, shape: enqueued(1) });
    return answer.calls[0]!;
  }

  /**
   * Queues a batch (at most 1000 events, 16 MiB), all or nothing: one invalid event and none is
   * queued. Each event's answer, in order, is `queued` or `duplicate`.
   */
  async sendBatch(events: readonly CallEventInput[]): Promise<EnqueueResult[]> {
    const answer = await this.request<{ calls: EnqueueResult[] }>('POST', '/v1/calls', { body: events.map(withCallId), idempotent: true, shape: enqueued(events.length) });
    return answer.calls;
  }

  /** A call with its event and every app result (`GET /v1/calls/:call_id`); undefined when there is no such call. */
  async getCall(callId: string): Promise<CallRecord | undefined> {
    if (isDotSegment(callId)) return undefined;
    try {
      return await this.request<CallRecord>('GET', `/v1/calls/${encodeURIComponent(callId)}`, { idempotent: true, shape: (b) => typeof b.call_id === 'string' && typeof b.status === 'string' });
    } catch (error) {
      if (error instanceof CallhookApiError && error.code === 'CALLHOOK_CALL_NOT_FOUND') return undefined;
      throw error;
    }
  }

  /** One page of calls, newest first by last change (`GET /v1/calls`). */
  async listCalls(query: ListCallsQuery = {}): Promise<CallPage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      // An empty list is no filter, and `status=` would be refused as an unknown status.
      if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
      params.set(key, Array.isArray(value) ? value.join(',') : String(value));
    }
    const search = params.toString();
    return this.request<CallPage>('GET', `/v1/calls${search ? `?${search}` : ''}`, { idempotent: true, shape: (b) => Array.isArray(b.calls) && (typeof b.next_cursor === 'string' || b.next_cursor === null) });
  }

  /**
   * Runs a failed or partial call's failed apps again (`POST /v1/calls/:call_id/replay`); apps
   * that succeeded are not sent again.
   * @throws CallhookApiError `CALLHOOK_CALL_NOT_FOUND` (404), `CALLHOOK_REPLAY_CONFLICT` (409: completed, still queued or running, nothing to replay, or its policy not in the loaded policies).
   */
  async replay(callId: string): Promise<ReplayAnswer> {
    if (isDotSegment(callId)) throw new CallhookApiError(404, 'CALLHOOK_CALL_NOT_FOUND', `no call ${callId}`);
    return this.request<ReplayAnswer>('POST', `/v1/calls/${encodeURIComponent(callId)}/replay`, { idempotent: false, shape: (b) => typeof b.call_id === 'string' && Array.isArray(b.replayed) });
  }

  /**
   * Runs an event's real-time apps now (`POST /v1/realtime`) and stores their results with the
   * call, for its post-call apps (send the event with the same call_id later). The apps are
   * really sent, so it is resent only when the API did nothing (503) or the request never left.
   * @returns the apps' results; `policy: null` when no policy matched, `stored: false` (with a
   * `warning`) when they ran but their results could not be stored.
   * @throws CallhookApiError `CALLHOOK_EVENT_INVALID` (400), `CALLHOOK_POLICY_NOT_FOUND` (404).
   */
  async realtime(event: CallEventInput): Promise<RealtimeAnswer> {
    return this.request<RealtimeAnswer>('POST', '/v1/realtime', { body: event, idempotent: false, shape: (b) => typeof b.call_id === 'string' && isObject(b.app_data) && typeof b.stored === 'boolean' });
  }

  /** The loaded policies as written, no secret, and what `config check` says of the file now (`GET /v1/policies`). */
  async policies(): Promise<PoliciesAnswer> {
    return this.request<PoliciesAnswer>('GET', '/v1/policies', { idempotent: true, shape: (b) => Array.isArray(b.policies) && Array.isArray(b.problems) });
  }

  /** The queue now (jobs by state, workers, calls finished per minute) and the circuits not closed (`GET /v1/stats`). */
  async stats(): Promise<StatsAnswer> {
    return this.request<StatsAnswer>('GET', '/v1/stats', { idempotent: true, shape: (b) => isObject(b.queue) && Array.isArray(b.circuits) });
  }

  /**
   * Runs a policy now, as Call Test (`POST /v1/call-test`): each app's request (secrets
   * redacted), answer and result. Nothing is stored or queued, but the apps are really sent.
   */
  async callTest(input: CallTestInput): Promise<CallTestReport> {
    return this.request<CallTestReport>('POST', '/v1/call-test', { body: input, idempotent: false, shape: (b) => typeof b.ok === 'boolean' && Array.isArray(b.apps) });
  }

  /**
   * The results feed (`GET /v1/results`): every call as it reaches a final status, oldest
   * first, then, with `follow` (the default), each new one as it finishes (long poll). Keep the
   * last entry's `id` to resume from it after a restart.
   */
  async *results(options: ResultsOptions = {}): AsyncGenerator<ResultEntry, void, undefined> {
    let after = options.after ?? '0';
    const follow = options.follow ?? true;
    const limit = options.limit ?? 100;
    const wait = follow ? (options.wait ?? '30s') : undefined;
    const waitMs = wait === undefined ? 0 : checkWait(wait);
    for (;;) {
      if (options.signal?.aborted) return;
      const params = new URLSearchParams({ after, limit: String(limit), ...(wait ? { wait } : {}) });
      let page: { entries: ResultEntry[]; next_after: string };
      try {
        page = await this.request('GET', `/v1/results?${params}`, { idempotent: true, signal: options.signal, extraTimeoutMs: waitMs + LONG_POLL_MARGIN_MS, shape: (b) => Array.isArray(b.entries) && typeof b.next_after === 'string' });
      } catch (error) {
        if (options.signal?.aborted) return;
        throw error;
      }
      for (const entry of page.entries) yield entry;
      after = page.next_after;
      if (!follow && page.entries.length < limit) return;
    }
  }

  /** @param how.shape whether a 2xx answer's JSON object is this route's answer (its top-level fields). */
  private async request<T>(method: string, path: string, how: { body?: unknown; idempotent: boolean; signal?: AbortSignal | undefined; extraTimeoutMs?: number; shape: Shape }): Promise<T> {
    const rules: RetryRules = { retries: this.options.retries, baseDelayMs: this.options.retryDelayMs, maxDelayMs: this.options.maxRetryDelayMs, idempotent: how.idempotent };
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    const body = how.body === undefined ? undefined : JSON.stringify(how.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const bodyBytes = body === undefined ? 0 : Buffer.byteLength(body);
    const url = this.options.url + path;
    if (bodyBytes > this.options.maxBodyBytes) {
      throw new CallhookApiError(413, 'CALLHOOK_EVENT_TOO_LARGE', `${method} ${url} was not sent: its body is ${bodyBytes} bytes, over maxBodyBytes (${this.options.maxBodyBytes}); send a batch as smaller ones`);
    }
    for (let attempts = 1; ; attempts++) {
      const timeout = AbortSignal.timeout(this.options.timeoutMs + (how.extraTimeoutMs ?? 0));
      const signal = how.signal ? AbortSignal.any([how.signal, timeout]) : timeout;
      let response: Awaited<ReturnType<FetchLike>>;
      let text: string;
      try {
        response = await this.fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal });
        text = await response.text();
      } catch (error) {
        if (how.signal?.aborted) throw error;
        // Refused before anything was sent (a header value fetch cannot carry): the same on every attempt.
        if (notSent(error)) throw new TypeError(`callhook client: ${method} ${url} was not sent: ${(error as Error).message}`, { cause: error });
        const outcome: AttemptOutcome = { kind: 'network', code: networkCode(error, timeout), bodyBytes };
        const decision = decideRetry(outcome, attempts, rules);
        if (!decision.retry) {
          const why = brokenWhileSendingLargeBody(outcome) ? `the connection broke while its ${bodyBytes}-byte body was sent (a proxy's body limit?); not resent` : undefined;
          throw new CallhookNetworkError(method, url, attempts, outcome.code, { cause: error, why });
        }
        await sleep(decision.delayMs, how.signal);
        continue;
      }
      // A 2xx that is not this route's JSON (a proxy's login page, a 204) would be the same again: the answer, not retried.
      if (response.status < 400) return parseAnswer<T>(response.status, text, how.shape);
      const outcome: AttemptOutcome = { kind: 'answer', status: response.status, retryAfter: response.headers.get('retry-after') };
      const decision = decideRetry(outcome, attempts, rules);
      if (!decision.retry) throw apiError(response.status, text);
      await sleep(decision.delayMs, how.signal);
    }
  }
}

/** A client of callhook's HTTP API (see CallhookClient). */
export function createClient(options: ClientOptions): CallhookClient {
  return new CallhookClient(options);
}

/**
 * `.` and `..`, which no URL can carry as a path segment: fetch's URL parser resolves them, even
 * escaped as `%2E`, so `/v1/calls/..` would ask for `/v1/`. No call has such an id (one starts
 * with a letter or digit), and the API answers `/v1/calls/%2E%2E` (sent as is) with
 * CALLHOOK_CALL_NOT_FOUND; getCall and replay answer so without asking.
 */
function isDotSegment(callId: string): boolean {
  return callId === '.' || callId === '..';
}

/**
 * A long poll's wait in ms, or a TypeError for one the API would refuse: a number alone (read
 * as ms, `'30'` made the feed a busy loop of 30 ms polls before the API refused it), another
 * unit, over 60 s.
 */
function checkWait(wait: string): number {
  const ms = /^\d+(\.\d+)?(ms|s|m)$/.test(wait) ? parseDuration(wait) : undefined;
  if (ms === undefined || ms > MAX_WAIT_MS) throw new TypeError(`callhook client: wait must be a duration with its unit, at most 60s (500ms, 30s, 1m), not ${JSON.stringify(wait)}`);
  return ms;
}

/** The event with a call_id: its own, else a new UUID (so that resending it cannot queue it twice). */
function withCallId(event: CallEventInput): CallEventInput {
  return event.call_id === undefined ? { ...event, call_id: randomUUID() } : event;
}

/** Whether a JSON object is the answer a route gives (its top-level fields), not another service's. */
type Shape = (body: Record<string, unknown>) => boolean;

/** `{calls: [...]}` with an entry for each event sent. */
function enqueued(events: number): Shape {
  return (body) => Array.isArray(body.calls) && body.calls.length === events && body.calls.every((c) => isObject(c) && typeof c.call_id === 'string');
}

/** A 2xx answer's JSON; CallhookApiError `HTTP_<status>` for one that is empty, not JSON, or not this route's answer. */
function parseAnswer<T>(status: number, text: string, shape: Shape): T {
  const fail = (what: string) => new CallhookApiError(status, `HTTP_${status}`, `${what}${text ? `: ${text.slice(0, 200)}` : ''}`);
  if (!text) throw fail("the answer is empty, not callhook's JSON");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw fail('the answer is not JSON');
  }
  if (!isObject(body) || !shape(body)) throw fail("the answer is not callhook's JSON");
  return body as T;
}

/**
 * callhook's error answer, `{error: {code, message, problems?}}` (src/api/problem.ts); any other
 * body, JSON or not (a proxy's `{"error": "Bad Gateway"}`), is `HTTP_<status>` with its text.
 */
function apiError(status: number, text: string): CallhookApiError {
  const error = (parseJson(text) as { error?: unknown } | undefined)?.error;
  if (isObject(error) && typeof error.code === 'string' && typeof error.message === 'string') {
    const problems = Array.isArray(error.problems) && error.problems.every((p) => typeof p === 'string') ? (error.problems as string[]) : [];
    return new CallhookApiError(status, error.code, error.message, problems);
  }
  return new CallhookApiError(status, `HTTP_${status}`, text.slice(0, 200) || `HTTP ${status}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A URL fetch can request and the client can add paths to. Not echoed: it may hold a password.
 * fetch refuses credentials in a URL on every attempt (`http://user@host` included), and its
 * message would show them; any other scheme (`localhost:8080` reads as the scheme `localhost:`)
 * fails as a network error, which would be retried.
 */
function checkUrl(url: string): void {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (parsed?.password) throw new TypeError('callhook client: url holds a password; give the API token as `token` instead');
  if (parsed?.username) throw new TypeError('callhook client: url holds a user name (user@host); give the API token as `token` instead');
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
    throw new TypeError(`callhook client: url must be an http:// or https:// URL such as http://127.0.0.1:8080${parsed ? `, not one with the scheme ${parsed.protocol}` : ''}`);
  }
  if (/[?#]/.test(url)) throw new TypeError('callhook client: url must have no query or fragment (each path is added after it)');
}

/**
 * A token an `Authorization` header can carry: once fetch has trimmed the whitespace around it
 * (a token read from a file with its newline still works), tab, printable ASCII and Latin-1
 * only. fetch throws on anything else before sending (’ pasted for ', a NUL, a line break).
 * The token is not echoed, only the character and where it is.
 */
function checkToken(token: string): void {
  const lead = /^[\t\n\r ]*/.exec(token)![0].length;
  const bad = /[^\t\x20-\x7e\x80-\xff]/u.exec(token.slice(lead).replace(/[\t\n\r ]+$/, ''));
  if (!bad) return;
  const char = bad[0];
  const shown = /[\x00-\x1f\x7f]/.test(char) ? '' : `${char} `;
  const hint = '\u2018\u2019\u201c\u201d'.includes(char) ? ": was a ' or \" changed when it was pasted?" : '';
  throw new TypeError(`callhook client: token holds ${shown}(U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) at index ${lead + bad.index}, which an HTTP header cannot carry${hint}`);
}

/**
 * An error of fetch's own checks, thrown before the request was sent: a TypeError with no
 * cause (a header value that is not a byte string, credentials in the URL), or with undici's
 * InvalidArgumentError (a control character in a header). Network errors have their socket
 * error as cause.
 */
function notSent(error: unknown): boolean {
  // By name: fetch's TypeError may come from another realm (a test runner's vm context).
  if ((error as { name?: unknown } | null)?.name !== 'TypeError') return false;
  const cause = (error as { cause?: unknown }).cause;
  return cause === undefined || (cause as { code?: unknown } | null)?.code === 'UND_ERR_INVALID_ARG';
}

/** The socket error code under fetch's TypeError (`cause.code`), or TIMEOUT when the attempt ran out of time. */
function networkCode(error: unknown, timeout: AbortSignal): string | undefined {
  if (timeout.aborted) return 'TIMEOUT';
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
