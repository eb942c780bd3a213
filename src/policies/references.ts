import { STANDARD_EVENT_FIELDS } from '../model/call';
import { misspeltName } from '../util/near-miss';
import type { Policy, WebhookApp } from './types';

/**
 * What a template path refers to, and why it may resolve to nothing: shared by Call Test's
 * hints (after a run) and the load-time warnings (before any), so both say the same.
 */

/** `app_data.[crm-lookup].data.x` → ['app_data', 'crm-lookup', 'data', 'x'] */
export function pathSegments(path: string): string[] {
  return path.split('.').map((s) => s.replace(/^\[(.*)\]$/, '$1'));
}

/** The standard event field `field` looks like a misspelling of (`caling_number` → `calling_number`), if any. */
export function misspeltEventField(field: string): string | undefined {
  return misspeltName(field, STANDARD_EVENT_FIELDS);
}

/** "the event has no field ..." with a suggestion when the field is a near-miss of a standard one. */
export function missingEventFieldHint(field: string): string {
  const meant = misspeltEventField(field.split('.')[0] ?? '');
  return `the event has no field "${field}"${meant ? ` (did you mean event.${meant}?)` : ''}`;
}

export function notInScopeHint(root: string): string {
  return `"${root}" is not in scope (use event.* or app_data.*)`;
}

/** Where the app holding a slug runs, beside where the reading app runs. */
export function runOrderHint(slug: string, source: WebhookApp, reader: WebhookApp): string {
  return `\`${slug}\` is ${source.phase}, order ${source.order}; this app is ${reader.phase}, order ${reader.order}`;
}

export function unknownSlugHint(slug: string, policy: Policy): string {
  const meant = misspeltName(slug, policy.apps.map((app) => app.slug));
  return `policy ${policy.id} has no app with that slug${meant ? ` (did you mean \`${meant}\`?)` : ''}`;
}

/**
 * Whether `source` runs before `reader` in a call: real-time apps before post-call ones, then
 * by order, ties in file order (the order policy.apps is sorted in).
 */
export function runsBefore(policy: Policy, source: WebhookApp, reader: WebhookApp): boolean {
  if (source.phase !== reader.phase) return source.phase === 'real_time';
  return policy.apps.indexOf(source) < policy.apps.indexOf(reader);
}
