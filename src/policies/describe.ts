import { credentialsIn, isCredentialName, REDACTED, type Redactor } from '../util/redact';
import type { CallhookConfig, Policy, WebhookApp } from './types';

/** A policy as the console shows it: its rules and apps, every template as written, no secret. */
export interface PolicyView {
  id: string;
  description: string | null;
  /** Field → pattern; null when the policy runs only when named (or as `default`). */
  match: Record<string, string> | null;
  apps: AppView[];
}

export interface AppView {
  name: string;
  slug: string;
  phase: WebhookApp['phase'];
  order: number;
  method: WebhookApp['method'];
  url: string;
  /** The auth type only: never a credential. */
  auth: WebhookApp['auth']['type'];
  headers: [string, string][];
  query: [string, string][];
  timeout_ms: number;
  retry_count: number;
  retry_delay_ms: number;
  when: string | null;
  message: string | null;
  on_failure: WebhookApp['onFailure'];
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

const PERIOD_UNIT: Record<number, string> = { 1000: 's', 60_000: 'm', 3_600_000: 'h' };

function describeDelivery(app: WebhookApp, text: (value: string) => string): DeliveryView {
  const { rateLimit, circuit } = app;
  return {
    body_format: app.body?.format ?? 'json',
    rate_limit: rateLimit ? `${rateLimit.count}/${PERIOD_UNIT[rateLimit.periodMs]}` : null,
    rate_limit_key: app.rateLimitKey ? text(app.rateLimitKey.source) : null,
    circuit: circuit ? { failures: circuit.failures, open_for_ms: circuit.openForMs, max_wait_ms: circuit.maxWaitMs } : null,
    retry_jitter: app.retryJitter,
    signed: app.signingKeys !== undefined,
    tls: app.tls !== undefined,
  };
}

/** Every policy for display, in file order; templates pass the redactor (a `${SECRET}` in a URL path stays hidden). */
export function describePolicies(config: CallhookConfig, redactor: Redactor): PolicyView[] {
  return config.policies.map((policy) => describePolicy(policy, redactor));
}

function describePolicy(policy: Policy, redactor: Redactor): PolicyView {
  const text = (value: string) => redactor.text(value);
  // Credentials written literally in the file are hidden as the request shows them: a credential
  // header's or query parameter's whole value, and a credential parameter in the URL's own query.
  const credential = ([name, value]: readonly [string, { source: string }]): [string, string] => [name, isCredentialName(name) ? REDACTED : text(value.source)];
  const url = (source: string) => credentialsIn(source, {}).reduce((out, secret) => out.split(secret).join(REDACTED), text(source));
  return {
    id: policy.id,
    description: policy.description ?? null,
    match: policy.match ? Object.fromEntries(policy.match.map((rule) => [rule.field, rule.pattern])) : null,
    apps: policy.apps.map((app) => ({
      name: app.name,
      slug: app.slug,
      phase: app.phase,
      order: app.order,
      method: app.method,
      url: url(app.url.source),
      auth: app.auth.type,
      headers: app.headers.map(credential),
      query: app.query.map(credential),
      timeout_ms: app.timeoutMs,
      retry_count: app.retryCount,
      retry_delay_ms: app.retryDelayMs,
      when: app.when ? text(app.when.source) : null,
      message: app.message ? text(app.message.source) : null,
      on_failure: app.onFailure,
      delivery: describeDelivery(app, text),
    })),
  };
}
