import type { WebhookApp } from '../policies/types';
import type { TemplateScope } from '../templates/engine';
import type { AttemptOutcome } from '../webhook/retry-policy';

/** Why an app is held back: its rate limit, or its destination's open circuit. */
export type WaitReason = 'rate_limit' | 'circuit_open';

/**
 * Whether an app may be sent now. `wait`: a queued call is delayed that long without spending an
 * attempt; `refuse`: the app fails at once, sending nothing: a run that cannot wait (a real-time
 * app) and its circuit is open (`code` CALLHOOK_CIRCUIT_OPEN, the default), or its
 * `rate_limit_key` cannot be rendered (CALLHOOK_TEMPLATE_RENDER).
 */
export type Admission =
  | { kind: 'go' }
  /** `sinceMs`: for a circuit, since when the call has waited (circuit.max_wait counts from there). */
  | { kind: 'wait'; delayMs: number; reason: WaitReason; message: string; sinceMs?: number }
  | { kind: 'refuse'; message: string; code?: 'CALLHOOK_CIRCUIT_OPEN' | 'CALLHOOK_TEMPLATE_RENDER' };

export const GO: Admission = { kind: 'go' };

export interface GateRequest {
  app: WebhookApp;
  policyId: string;
  callId: string;
  scope: TemplateScope;
  /** Queued calls can wait; real-time apps cannot. */
  canWait: boolean;
  /** Since when (epoch ms) this call has waited for this app's circuit, if it has (until the app has a result). */
  waitingSinceMs: number | undefined;
}

/** Delivery controls shared by every worker: rate limits and circuit breakers (see delivery/). */
export interface DeliveryGate {
  admit(request: GateRequest): Promise<Admission>;
  /** What an attempt came to: the circuit learns from it, and a 429 with Retry-After slows the app's limit down. */
  settle(request: GateRequest, outcome: AttemptOutcome): Promise<void>;
}
