import type { ErrorCode } from '../errors';

/**
 * What a call is, as every layer sees it: its statuses, an app's stored result, the state a run
 * resumes from and where a run writes. The store and the pipeline both import from here, so
 * data flows one way.
 */

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

export type CallStatus = 'queued' | 'running' | 'completed' | 'partial' | 'failed' | 'unmatched';

export const FINAL_STATUSES: readonly CallStatus[] = ['completed', 'partial', 'failed', 'unmatched'];

export function isFinal(status: CallStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** A call's status from its results: completed (none failed), partial (some succeeded) or failed. */
export function callStatus(results: readonly AppResult[]): CallStatus {
  const failed = results.some((r) => r.status === 'failed');
  if (!failed) return 'completed';
  return results.some((r) => r.status === 'success') ? 'partial' : 'failed';
}

/** A completed-call event after validation (events/schema): `call_id` and `timestamp` always present. */
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

/**
 * The fields callhook's own events carry: the API's (events/schema) and the CDR ingester's
 * (cdr/map). Events may bring others; these are what a misspelt `match` field or `event.x` in a
 * template is compared with at load.
 */
export const STANDARD_EVENT_FIELDS: readonly string[] = [
  'call_id', 'timestamp', 'calling_number', 'called_number', 'calling_name', 'calling_devicename', 'trigger_point_type', 'policy', 'app_data',
  'original_called_number', 'called_devicename', 'connect_time', 'disconnect_time', 'duration', 'answered', 'orig_cause', 'dest_cause',
  'orig_ip', 'dest_ip', 'orig_media_ip', 'dest_media_ip', 'global_call_id', 'leg_type', 'conversation_id', 'cluster_id', 'cdr_file', 'cdr_line',
  'quality', 'cdr',
];

/** What a run resumes from, as loaded from the store. */
export interface CallState {
  event: CallEvent;
  /** Results already stored for this call (real-time apps, post-call apps done before a retry or crash). */
  results: Readonly<Record<string, AppResult>>;
  /** The attempts already made of an app that is waiting to be retried. */
  pending: Readonly<Record<string, readonly AttemptLogEntry[]>>;
}

/** Where a run writes each app's result, at the latest before the next request is sent. */
export interface Checkpoint {
  saveResult(slug: string, result: AppResult): Promise<void>;
  /** An app that will be retried: the attempts so far (redacted). */
  savePending(slug: string, attempts: readonly AttemptLogEntry[]): Promise<void>;
  /** The run's final status, written together with its last app result. */
  finish(status: CallStatus, last?: { slug: string; result: AppResult }): Promise<void>;
}

/** A call as the API shows it. */
export interface CallRecord {
  call_id: string;
  policy: string | null;
  status: CallStatus;
  event: CallEvent;
  app_data: Record<string, AppResult>;
  created_at: string;
  finished_at: string | null;
}
