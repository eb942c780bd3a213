import type { CallEvent } from '../model/call';
import type { CallhookConfig, FieldMatch, Policy } from './types';

/**
 * The policy for a call: the one the event names; else the first (file order) whose `match`
 * holds; else `default`; else undefined (the call is recorded as `unmatched`).
 */
export function resolvePolicy(config: CallhookConfig, event: CallEvent): Policy | undefined {
  if (event.policy !== undefined) return config.byId.get(event.policy);
  for (const policy of config.policies) {
    if (policy.match && policy.match.every((rule) => matches(rule, rule.read(event)))) return policy;
  }
  return config.byId.get('default');
}

function matches(rule: FieldMatch, value: unknown): boolean {
  if (value === undefined || value === null || typeof value === 'object') return false;
  return rule.test(String(value));
}
