/** The API's answers, as the console reads them (see the README's HTTP API table). */
import type { AppResult, AppStatus, CallRecord, CallStatus } from '../model/call';

export type { AppResult, AppStatus, CallRecord, CallStatus };

export interface CallRow {
  call_id: string;
  policy: string | null;
  status: CallStatus;
  calling_number: string;
  called_number: string;
  created_at: string;
  finished_at: string | null;
  apps: Record<string, AppStatus>;
}

export interface CallList {
  calls: CallRow[];
  next_cursor: string | null;
}

export interface AppView {
  name: string;
  slug: string;
  phase: 'post_call' | 'real_time';
  order: number;
  method: string;
  url: string;
  auth: string;
  headers: [string, string][];
  query: [string, string][];
  timeout_ms: number;
  retry_count: number;
  retry_delay_ms: number;
  when: string | null;
  message: string | null;
  on_failure: 'continue' | 'stop';
  delivery: {
    body_format: 'json' | 'form' | 'text';
    rate_limit: string | null;
    rate_limit_key: string | null;
    circuit: { failures: number; open_for_ms: number; max_wait_ms: number } | null;
    retry_jitter: number;
    signed: boolean;
    tls: boolean;
  };
}

export interface PolicyView {
  id: string;
  description: string | null;
  match: Record<string, string> | null;
  apps: AppView[];
}

export interface Policies {
  source: string;
  policies: PolicyView[];
  problems: string[];
}

export interface Stats {
  queue: {
    jobs: { waiting: number; active: number; delayed: number; failed: number };
    workers: { name: string; idle_s: number }[];
    finished_per_minute: { minute: string; completed: number; partial: number; failed: number; unmatched: number }[];
  };
  /** Open and half-open circuits; a destination not listed is closed. */
  circuits: { destination: string; state: 'open' | 'half_open'; failures: number; open_until: string }[];
}

export interface CallTestApp {
  name: string;
  slug: string;
  phase: string;
  order: number;
  request: { method: string; url: string; headers: Record<string, string>; body: unknown } | null;
  response: { http_status: number | null; duration_ms: number } | null;
  result: AppResult;
  unresolved: { path: string; hint: string }[];
}

export interface CallTestReport {
  call_id: string;
  policy: string;
  phase: string;
  event: Record<string, unknown>;
  ok: boolean;
  apps: CallTestApp[];
  curri: { xml: string; outcome: string; error: string | null } | null;
}
