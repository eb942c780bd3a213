import type { CallEvent } from '../model/call';
import type { Phase, Policy, WebhookApp } from '../policies/types';
import type { AppRun } from '../pipeline/runner';
import { missingEventFieldHint, notInScopeHint, pathSegments, runOrderHint, unknownSlugHint } from '../policies/references';

/**
 * Why a template path resolved to nothing, in words a policy author can act on. `phase` is the
 * test's: a phase that leaves an app out is why it did not run, not its order.
 */
export function hintFor(path: string, context: { app: WebhookApp; policy: Policy; event: CallEvent; before: AppRun[]; phase: Phase | 'all' }): string {
  const [root, slug, ...rest] = pathSegments(path);
  if (root === 'event') return missingEventFieldHint([slug, ...rest].join('.'));
  if (root === 'data') return `the response has no "${[slug, ...rest].join('.')}"`;
  if (root !== 'app_data' || !slug) return notInScopeHint(root ?? '');

  const ran = context.before.find((run) => run.app.slug === slug);
  if (ran) {
    if (ran.result.status !== 'success') return `app \`${slug}\` ${ran.result.status} before this app, so it has no ${rest.join('.') || 'result'}`;
    return `app \`${slug}\` ran, but its result has no "${rest.join('.')}"`;
  }
  const later = context.policy.apps.find((a) => a.slug === slug);
  const fromEvent = context.event.app_data !== undefined && slug in context.event.app_data;
  const eventHint = `the event's app_data.${slug} has no "${rest.join('.')}"`;
  // Real-time apps always run before post-call ones: with every phase this one would have run
  // first, so the test's phase left it out, not its order (the event's app_data stood in for it).
  if (later?.phase === 'real_time' && context.app.phase === 'post_call' && context.phase === 'post_call') {
    return fromEvent ? eventHint : `app \`${slug}\` did not run: phase \`post_call\` leaves out real-time apps, which run before this one; test with phase \`all\``;
  }
  if (later) return `no app \`${slug}\` ran before this app (${runOrderHint(slug, later, context.app)})`;
  if (fromEvent) return eventHint;
  return `no app \`${slug}\` ran before this app (${unknownSlugHint(slug, context.policy)})`;
}
