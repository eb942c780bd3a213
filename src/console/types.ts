/**
 * The API's answers, as the console reads them: the HTTP client's types (type-only imports,
 * erased from the bundle), which the compiler holds to the server's own, so the console cannot
 * drift from what the API sends.
 */
export type { AppResult, AppStatus, CallRecord, CallRow, CallStatus, CallTestReport, PolicyView, AppView, QueueStats } from '../client/types';
export type { CallPage as CallList } from '../client/client';
import type { PolicyView, QueueStats } from '../client/types';
import type { CircuitView } from '../delivery/gate';

export interface Policies {
  source: string;
  policies: PolicyView[];
  problems: string[];
}

export interface Stats {
  queue: QueueStats;
  /** Open and half-open circuits; a destination not listed is closed. */
  circuits: CircuitView[];
}
