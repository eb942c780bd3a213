/**
 * What the API sends and answers, as the HTTP client types them. These are the types the server
 * builds its answers from; test/unit/api-types.test.ts checks them against the answer schemas
 * the OpenAPI document is made of (api/openapi/schemas.ts), and the OpenAPI test checks real
 * answers against those.
 */
export type { AppError, AppResult, AppStatus, AttemptLogEntry, CallEvent, CallRecord, CallStatus, RequestSummary } from '../model/call';
export type { CallRow } from '../store/call-index';
export type { EnqueueResult } from '../queue/producer';
export type { QueueStats } from '../queue/stats';
export type { RealtimeAnswer } from '../pipeline/realtime';
export type { CallTestAppReport, CallTestReport } from '../call-test/run';
export type { PolicyView, AppView } from '../policies/describe';
export type { ErrorCode } from '../errors';

/** A call event as a producer sends it: the two numbers are required, every other field optional (README, Call events). */
export interface CallEventInput {
  /**
   * The idempotency key (1-200 of `A-Z a-z 0-9 . _ @ ~ -`, starting with a letter or digit). A
   * call_id queued before is answered `duplicate` and not queued again, so set it to your own
   * id for the call (CUCM's global call id, a CRM id) and resending is always safe. The client
   * sets a UUID when it is absent, so its own retries cannot queue a call twice.
   */
  call_id?: string;
  calling_number: string;
  called_number: string;
  calling_name?: string;
  calling_devicename?: string;
  trigger_point_type?: string;
  /** ISO 8601; now when absent. */
  timestamp?: string;
  /** Run this policy instead of matching one. */
  policy?: string;
  /** Results or data the apps can template from (`app_data.<key>`). */
  app_data?: Record<string, unknown>;
  /** Any other field is kept and available to templates as `event.<field>`. */
  [field: string]: unknown;
}
