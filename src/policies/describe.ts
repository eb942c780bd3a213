import type { Redactor } from '../util/redact';
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
}

/** Every policy for display, in file order; templates pass the redactor (a `${SECRET}` in a URL path stays hidden). */
export function describePolicies(config: CallhookConfig, redactor: Redactor): PolicyView[] {
  return config.policies.map((policy) => describePolicy(policy, redactor));
}

function describePolicy(policy: Policy, redactor: Redactor): PolicyView {
  const text = (value: string) => redactor.text(value);
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
      url: text(app.url.source),
      auth: app.auth.type,
      headers: app.headers.map(([name, value]) => [name, text(value.source)]),
      query: app.query.map(([name, value]) => [name, text(value.source)]),
      timeout_ms: app.timeoutMs,
      retry_count: app.retryCount,
      retry_delay_ms: app.retryDelayMs,
      when: app.when ? text(app.when.source) : null,
      message: app.message ? text(app.message.source) : null,
      on_failure: app.onFailure,
    })),
  };
}
