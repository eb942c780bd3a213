import type { BodyNode } from '../templates/body';
import type { Template } from '../templates/engine';
import { slugify } from './compile';
import { misspeltEventField, notInScopeHint, pathSegments, runOrderHint, runsBefore, unknownSlugHint } from './references';
import type { PolicyInput } from './schema';
import type { CurriBlock, Policy, WebhookApp } from './types';

/**
 * What loads but can never work as meant: a policy no call reaches, a `match` field or an
 * `event.x` that looks misspelt, a template reading an app that has not run yet. Events may
 * carry fields of their own and bring `app_data`, so these are warnings (`config check` prints
 * them, start-up logs them), not load errors. Each names its path, as a problem does.
 */
export function configWarnings(inputs: readonly PolicyInput[], policies: readonly Policy[]): string[] {
  if (policies.length === 0) return ['policies: the list is empty, so every call ends `unmatched`; add a policy (a `default` one takes every call no other policy matches)'];
  return policies.flatMap((policy, index) => policyWarnings(inputs[index]!, policy, `policies[${index}]`));
}

function policyWarnings(input: PolicyInput, policy: Policy, at: string): string[] {
  const warnings: string[] = [];
  if (input.match === undefined && policy.id !== 'default') {
    warnings.push(`${at}: has no \`match\` and is not \`default\`, so it runs only for events that name it ("policy": "${policy.id}")`);
  }
  for (const field of Object.keys(input.match ?? {})) {
    const [top = ''] = field.split('.');
    const meant = misspeltEventField(top);
    if (meant) warnings.push(`${at}.match.${field}: events have no standard field "${top}" (did you mean ${meant}?), so this policy matches only events that carry it`);
  }
  const fileIndex = new Map(input.apps.map((app, i) => [app.slug ?? slugify(app.name), i]));
  for (const app of [...policy.apps].sort((a, b) => fileIndex.get(a.slug)! - fileIndex.get(b.slug)!)) {
    const reader = { policy, app };
    for (const [field, template] of appTemplates(app)) warnings.push(...referenceWarnings(template, `${at}.apps[${fileIndex.get(app.slug)}].${field}`, reader, field === 'message'));
  }
  for (const [field, template] of curriTemplates(policy.curri)) warnings.push(...referenceWarnings(template, `${at}.curri.${field}`, { policy }, false));
  return warnings;
}

/** Who reads: an app, or the `curri:` block (rendered after the real-time apps). */
interface Reader {
  policy: Policy;
  app?: WebhookApp;
}

/** What `message` sees besides `event` and `app_data`. */
const RESPONSE_SCOPE = ['data', 'http_status'];

function referenceWarnings(template: Template | BodyNode, at: string, reader: Reader, hasResponse: boolean): string[] {
  const warnings: string[] = [];
  for (const path of new Set(pathsOf(template))) {
    const [root = '', slug, ...rest] = pathSegments(path);
    if (root === 'event' && slug !== undefined) {
      const meant = misspeltEventField(slug);
      if (meant) warnings.push(`${at}: event.${slug} is not a standard event field (did you mean event.${meant}?); it renders empty unless events carry it`);
    } else if (root === 'app_data' && slug !== undefined) {
      const problem = slugProblem(slug, reader);
      if (problem) warnings.push(`${at}: app_data.${[slug, ...rest].join('.')}: ${problem}`);
    } else if (!(hasResponse && RESPONSE_SCOPE.includes(root)) && root !== 'event' && root !== 'app_data') {
      warnings.push(`${at}: {{ ${path} }}: ${notInScopeHint(root)}; it always renders empty`);
    }
  }
  return warnings;
}

/** Why `app_data.<slug>` cannot hold an app's result when `reader` renders, or undefined. */
function slugProblem(slug: string, { policy, app }: Reader): string | undefined {
  const source = policy.apps.find((candidate) => candidate.slug === slug);
  if (!source) return `${unknownSlugHint(slug, policy)}, so it is empty unless the event brings app_data.${slug}`;
  if (app === undefined) return source.phase === 'real_time' ? undefined : `\`${slug}\` is post_call, and CUCM's answer is made after the real-time apps only, so it is empty`;
  if (source === app) return 'this is the app itself: its result is not there while it runs';
  if (!runsBefore(policy, source, app)) return `app \`${slug}\` runs after this one (${runOrderHint(slug, source, app)}), so it is empty`;
  return undefined;
}

/**
 * The paths a template reads from its scope, as Call Test lists the unresolved ones: a render
 * on an empty scope leaves every one of them unresolved.
 */
function pathsOf(template: Template | BodyNode): string[] {
  if (!('render' in template)) return bodyPaths(template);
  const unresolved = new Set<string>();
  try {
    template.render({}, unresolved);
  } catch {
    // A templated host cannot render from nothing; the paths before it are read all the same.
  }
  return [...unresolved];
}

function bodyPaths(node: BodyNode): string[] {
  switch (node.kind) {
    case 'const':
      return [];
    case 'text':
      return pathsOf(node.template);
    case 'value':
      return [node.parts.join('.')];
    case 'array':
      return node.items.flatMap(bodyPaths);
    case 'object':
      return node.entries.flatMap(([, value]) => bodyPaths(value));
  }
}

function appTemplates(app: WebhookApp): [string, Template | BodyNode][] {
  const templates: [string, Template | BodyNode | undefined][] = [
    ['url', app.url],
    ...app.query.map(([name, template]) => [`query.${name}`, template] as [string, Template]),
    ...app.headers.map(([name, template]) => [`headers.${name}`, template] as [string, Template]),
    ['body', bodyOf(app)],
    ['when', app.when],
    ['message', app.message],
    ['rate_limit_key', app.rateLimitKey],
  ];
  return templates.filter((entry): entry is [string, Template | BodyNode] => entry[1] !== undefined);
}

function bodyOf(app: WebhookApp): Template | BodyNode | undefined {
  switch (app.body?.format) {
    case 'json':
      return app.body.node;
    case 'text':
      return app.body.template;
    case 'form':
      return { kind: 'array', items: app.body.fields.map(([, template]) => ({ kind: 'text', template, field: '' })) };
    default:
      return undefined;
  }
}

function curriTemplates(curri: CurriBlock | undefined): [string, Template][] {
  if (!curri) return [];
  const templates: [string, Template | undefined][] = [
    ['action', curri.action],
    ['calling_name', curri.callingName],
    ['calling_number', curri.callingNumber],
    ['called_number', curri.calledNumber],
    ['divert_to', curri.divertTo],
    ['greeting', curri.greeting],
  ];
  return templates.filter((entry): entry is [string, Template] => entry[1] !== undefined);
}
