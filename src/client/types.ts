/**
 * What the API sends and answers, as the HTTP client types them. Declared here, importing
 * nothing, so that `callhook/client`'s type declarations load none of the server's modules (nor
 * BullMQ, ioredis, zod or axios). test/unit/api-types.test.ts checks that each is the same type
 * as the one the server builds its answers from, and those against the answer schemas the
 * OpenAPI document is made of (api/openapi/schemas.ts); the OpenAPI test checks real answers.
 */

/** A code of the error catalogue (README, Error codes). */
export type ErrorCode =
  | 'CALLHOOK_CONFIG_INVALID'
  | 'CALLHOOK_SETTINGS_INVALID'
  | 'CALLHOOK_EVENT_INVALID'
  | 'CALLHOOK_BAD_REQUEST'
  | 'CALLHOOK_UNAUTHORIZED'
  | 'CALLHOOK_FORBIDDEN_HOST'
  | 'CALLHOOK_FORBIDDEN_ORIGIN'
  | 'CALLHOOK_NOT_FOUND'
  | 'CALLHOOK_CALL_NOT_FOUND'
  | 'CALLHOOK_POLICY_NOT_FOUND'
  | 'CALLHOOK_REQUEST_TIMEOUT'
  | 'CALLHOOK_REPLAY_CONFLICT'
  | 'CALLHOOK_EVENT_TOO_LARGE'
  | 'CALLHOOK_UNSUPPORTED_MEDIA_TYPE'
  | 'CALLHOOK_HEADERS_TOO_LARGE'
  | 'CALLHOOK_UNAVAILABLE'
  | 'CALLHOOK_INTERNAL'
  | 'CALLHOOK_TEMPLATE_RENDER'
  | 'CALLHOOK_HTTP_STATUS'
  | 'CALLHOOK_HTTP_NETWORK'
  | 'CALLHOOK_HTTP_TIMEOUT'
  | 'CALLHOOK_DEADLINE_PASSED'
  | 'CALLHOOK_CIRCUIT_OPEN'
  | 'CALLHOOK_REQUEST_TOO_LARGE'
  | 'CALLHOOK_RESPONSE_TOO_LARGE'
  | 'CALLHOOK_OAUTH_TOKEN';

export type CallStatus = 'queued' | 'running' | 'completed' | 'partial' | 'failed' | 'unmatched';
export type AppStatus = 'success' | 'failed' | 'skipped';

export interface AppError {
  code: ErrorCode;
  message: string;
}

/** One HTTP attempt of an app, as its result records it. */
export interface AttemptLogEntry {
  /** When the attempt started (ISO 8601). */
  at: string;
  http_status: number | null;
  duration_ms: number;
  error: AppError | null;
  /** The delay the retry decision set before the next attempt (a rate limit or an open circuit may hold it longer: the next entry's `at` says when it went); 0: resent with a fresh OAuth2 token; null when none followed. */
  retry_in_ms: number | null;
}

/** The request an app sent last, as stored: redacted, without its body. */
export interface RequestSummary {
  method: string;
  url: string;
  headers: Record<string, string>;
  body_bytes: number;
}

/** One app's stored result: what later apps template from (`app_data.<slug>`). */
export interface AppResult {
  status: AppStatus;
  http_status: number | null;
  data: unknown;
  message: string;
  attempts: number;
  duration_ms: number;
  unresolved: string[];
  error: AppError | null;
  /** Every attempt that led to this result (at most retry_count + 1: the last ones). */
  attempts_log: AttemptLogEntry[];
  /** The last request as sent, redacted; null when none was sent (skipped, template error). */
  request: RequestSummary | null;
}

/** A call event as stored, after validation: `call_id` and `timestamp` always present. */
export interface CallEvent {
  call_id: string;
  timestamp: string;
  calling_number: string;
  called_number: string;
  calling_name?: string | undefined;
  calling_devicename?: string | undefined;
  trigger_point_type?: string | undefined;
  policy?: string | undefined;
  app_data?: Record<string, unknown> | undefined;
  /** Any other field is kept and available as `event.<field>`. */
  [field: string]: unknown;
}

/** A call with its event and every app result (`GET /v1/calls/:call_id`). */
export interface CallRecord {
  call_id: string;
  policy: string | null;
  status: CallStatus;
  event: CallEvent;
  app_data: Record<string, AppResult>;
  created_at: string;
  finished_at: string | null;
}

/** A call as `GET /v1/calls` lists it. */
export interface CallRow {
  call_id: string;
  policy: string | null;
  status: CallStatus;
  calling_number: string;
  called_number: string;
  created_at: string;
  finished_at: string | null;
  /** Each app's status, in the order its result was stored. */
  apps: Record<string, AppStatus>;
}

/** What queueing one call came to: queued, or a call_id queued before (not queued again). */
export interface EnqueueResult {
  call_id: string;
  status: 'queued' | 'duplicate';
}

/** The queue, as `GET /v1/stats` shows it. */
export interface QueueStats {
  jobs: { waiting: number; active: number; delayed: number; failed: number };
  /** Worker connections BullMQ sees on the queue right now; null when Redis will not list its clients (CLIENT disabled or renamed, as on Memorystore). */
  workers: { name: string; idle_s: number }[] | null;
  /** Calls finished per minute by final status, oldest minute first (the last `minutes`). */
  finished_per_minute: { minute: string; completed: number; partial: number; failed: number; unmatched: number }[];
}

/** A destination's circuit breaker that is not closed, as `GET /v1/stats` lists it. */
export interface CircuitView {
  /** `scheme://host:port` */
  destination: string;
  /** open: calls wait; half_open: one probe is let through. */
  state: 'open' | 'half_open';
  /** Consecutive failures counted. */
  failures: number;
  /** When the next probe may go (ISO 8601). */
  open_until: string;
}

/** `GET /v1/stats`: the queue now, and the destinations whose circuit is open or probing (any other is closed). */
export interface StatsAnswer {
  queue: QueueStats;
  circuits: CircuitView[];
}

/** `POST /v1/realtime`: the real-time apps' results. */
export interface RealtimeAnswer {
  call_id: string;
  policy: string | null;
  app_data: Record<string, AppResult>;
  /** False when the apps ran but their results could not be stored (`warning` says why). */
  stored: boolean;
  warning?: string;
}

export interface CallTestAppReport {
  name: string;
  slug: string;
  phase: 'post_call' | 'real_time';
  order: number;
  /** The request as sent, secrets redacted; null when the app did not send one. */
  request: { method: string; url: string; headers: Record<string, string>; body: unknown } | null;
  response: { http_status: number | null; duration_ms: number } | null;
  result: AppResult;
  unresolved: { path: string; hint: string }[];
}

/** `POST /v1/call-test`: each app's request, answer and result. */
export interface CallTestReport {
  call_id: string;
  policy: string;
  phase: 'all' | 'post_call' | 'real_time';
  event: CallEvent;
  ok: boolean;
  apps: CallTestAppReport[];
  /**
   * For a policy with a `curri:` block, run with its real-time apps: the exact XML CUCM would
   * receive, and `ok` or why it is the policy's error decision.
   */
  curri: { xml: string; outcome: 'ok' | 'app_failed' | 'template_error' | 'timeout'; error: string | null } | null;
}

/** A policy as the console shows it: its rules and apps, every template as written, no secret. */
export interface PolicyView {
  id: string;
  description: string | null;
  /** Field → pattern; null when the policy runs only when named (or as `default`). */
  match: Record<string, string> | null;
  apps: AppView[];
}

/** `GET /v1/policies`: the loaded policies, no secret, and what `config check` says of the file now. */
export interface PoliciesAnswer {
  /** The policies file. */
  source: string;
  policies: PolicyView[];
  problems: string[];
}

export interface AppView {
  name: string;
  slug: string;
  phase: 'post_call' | 'real_time';
  order: number;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** The auth type only: never a credential. */
  auth: 'none' | 'basic' | 'bearer' | 'oauth2';
  headers: [string, string][];
  query: [string, string][];
  timeout_ms: number;
  retry_count: number;
  retry_delay_ms: number;
  when: string | null;
  message: string | null;
  on_failure: 'continue' | 'stop';
  delivery: DeliveryView;
}

/** The app's delivery controls as written (`signed` and `tls` say only whether they are set). */
export interface DeliveryView {
  body_format: 'json' | 'form' | 'text';
  /** `N/s`, `N/m` or `N/h`; null: no limit. */
  rate_limit: string | null;
  rate_limit_key: string | null;
  /** null: the app ignores its destination's circuit. */
  circuit: { failures: number; open_for_ms: number; max_wait_ms: number } | null;
  retry_jitter: number;
  signed: boolean;
  tls: boolean;
}

/** A call event as a producer sends it: the two numbers are required, every other field optional (README, Call events). */
export interface CallEventInput {
  /**
   * The idempotency key (1-200 of `A-Z a-z 0-9 . _ @ ~ -`, starting with a letter or digit). A
   * call_id queued before is answered `duplicate` and not queued again, so set it to your own
   * id for the call (CUCM's global call id, a CRM id) and resending is always safe. The client
   * sets a UUID when it is absent, so its own retries cannot queue a call twice.
   */
  call_id?: string | undefined;
  calling_number: string;
  called_number: string;
  calling_name?: string | undefined;
  calling_devicename?: string | undefined;
  trigger_point_type?: string | undefined;
  /** ISO 8601; now when absent. */
  timestamp?: string | undefined;
  /** Run this policy instead of matching one. */
  policy?: string | undefined;
  /** Results or data the apps can template from (`app_data.<key>`). */
  app_data?: Record<string, unknown> | undefined;
  /** Any other field is kept and available to templates as `event.<field>`. */
  [field: string]: unknown;
}
