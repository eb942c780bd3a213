import type { AppResult, CallStatus } from '../model/call';
import type { WaitReason } from './gate';

export interface AppContext {
  callId: string;
  policy: string;
  app: string;
}

/** What one HTTP request of an app came to (`retry`: another follows, in the request or from the queue). */
export type AttemptVerdict = 'success' | 'retry' | 'failed';

/**
 * Hooks the pipeline calls as a call runs, so metrics and logs stay out of the domain code.
 * Implementations must not throw.
 */
export interface PipelineObserver {
  attempt(context: AppContext, verdict: AttemptVerdict, durationMs: number, httpStatus: number | null): void;
  result(context: AppContext, result: AppResult): void;
  callFinished(callId: string, policy: string | null, status: CallStatus): void;
  /** A queued call held back by an app's rate limit or its destination's open circuit. */
  waited?(context: AppContext, reason: WaitReason): void;
}

export const noopObserver: PipelineObserver = {
  attempt: () => undefined,
  result: () => undefined,
  callFinished: () => undefined,
};

/** Fans each hook out to several observers (metrics and a per-call logger). */
export function combineObservers(...observers: PipelineObserver[]): PipelineObserver {
  return {
    attempt: (...args) => observers.forEach((o) => o.attempt(...args)),
    result: (...args) => observers.forEach((o) => o.result(...args)),
    callFinished: (...args) => observers.forEach((o) => o.callFinished(...args)),
    waited: (...args) => observers.forEach((o) => o.waited?.(...args)),
  };
}
