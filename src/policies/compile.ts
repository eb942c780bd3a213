import { RE2JS } from 're2js';
import { compileBody } from '../templates/body';
import { compileTemplate, compileUrlTemplate, type Template } from '../templates/engine';
import type { AppInput, CurriInput, PolicyInput } from './schema';
import type { CurriBlock, FieldMatch, Policy, WebhookApp } from './types';

/** "CRM Lookup" → "crm-lookup" (the product's app slug rule). */
export function slugify(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * Scheme, host and port must be literal unless the app opts in: call data must not pick the
 * host. So the first template may only start once the authority is closed by `/`, `?` or `#`:
 * `https://crm.example.com{{ x }}/` would let `x = ".evil.example"` extend the host, and
 * `http://127.0.0.1:1{{ p }}/` pick the port.
 */
const CLOSED_AUTHORITY = /^https?:\/\/[^/?#{}]+[/?#]/i;
const WHOLE_AUTHORITY = /^https?:\/\/[^/?#{}]+(?:[/?#]|$)/i;

function checkUrl(app: AppInput, problem: (field: string, message: string) => void): void {
  const templated = app.url.indexOf('{{');
  if (templated === -1 || !app.allow_templated_host) {
    if (!/^https?:\/\//i.test(app.url)) return problem('url', 'must start with http:// or https://');
    const literal = templated === -1 ? app.url : app.url.slice(0, templated);
    if (!(templated === -1 ? WHOLE_AUTHORITY : CLOSED_AUTHORITY).test(literal)) {
      return problem(
        'url',
        'scheme, host and port must be literal and closed by "/", "?" or "#" before the first template (set allow_templated_host: true to template them)',
      );
    }
    if (templated === -1 && !URL.canParse(app.url)) problem('url', 'is not a valid URL');
  } else if (!/^(https?:\/\/|\{\{)/i.test(app.url)) {
    problem('url', 'must start with http://, https:// or a template');
  }
}

/** Compiles one app's templates; each failure is reported against its own field. */
function compileApp(input: AppInput, problem: (field: string, message: string) => void): WebhookApp | undefined {
  const slug = input.slug ?? slugify(input.name);
  if (slug === '') problem('name', 'has no letters or digits to make a slug from; set `slug:`');
  checkUrl(input, problem);
  if (input.body !== undefined && input.method === 'GET') problem('body', 'a GET request carries no body; use POST');

  let failed = false;
  const compile = (field: string, source: string, compiler = compileTemplate): Template => {
    try {
      return compiler(source);
    } catch (error) {
      failed = true;
      problem(field, `template does not compile: ${(error as Error).message.split('\n')[0]}`);
      return compileTemplate('');
    }
  };
  const url = compile('url', input.url, compileUrlTemplate);
  const query = input.query.map(([k, v]) => [k, compile(`query.${k}`, v)] as const);
  const headers = input.headers.map(([k, v]) => [k, compile(`headers.${k}`, v)] as const);
  let body;
  try {
    body = input.body === undefined ? undefined : compileBody(input.body);
  } catch (error) {
    failed = true;
    problem('body', `template does not compile: ${(error as Error).message.split('\n')[0]}`);
  }
  const when = input.when === undefined ? undefined : compile('when', input.when);
  const message = input.message === undefined ? undefined : compile('message', input.message);
  if (failed) return undefined;
  return {
    name: input.name,
    slug,
    phase: input.phase,
    order: input.order,
    method: input.method,
    url,
    query,
    headers,
    body,
    auth: input.auth,
    timeoutMs: input.timeout,
    retryCount: input.retry_count,
    retryDelayMs: input.retry_delay,
    retryOnStatus: new Set(input.retry_on_status),
    when,
    message,
    onFailure: input.on_failure,
    maxResponseBytes: input.max_response_bytes,
  };
}

/**
 * A `match` rule. Patterns run on caller-controlled fields in the API and the worker, so they
 * run on RE2 (linear time, no catastrophic backtracking): `^(\w+\s?)*$` against 40 letters
 * and a `!` took hours with JavaScript's engine and takes microseconds here.
 */
export function compileMatch(field: string, pattern: string): FieldMatch {
  const regex = RE2JS.compile(pattern);
  return { field, pattern, test: (value) => regex.test(value) };
}

/** Builds a policy; `problems` receives `policies[i]...`-prefixed messages. */
export function compilePolicy(input: PolicyInput, index: number, problems: string[]): Policy {
  const at = `policies[${index}]`;
  const match: FieldMatch[] = [];
  for (const [field, pattern] of Object.entries(input.match ?? {})) {
    try {
      match.push(compileMatch(field, pattern));
    } catch (error) {
      problems.push(`${at}.match.${field}: ${(error as Error).message} (match uses RE2 syntax: no lookaround or backreferences)`);
    }
  }
  const apps: WebhookApp[] = [];
  const seen = new Map<string, number>();
  input.apps.forEach((appInput, appIndex) => {
    const problem = (field: string, message: string) => problems.push(`${at}.apps[${appIndex}].${field}: ${message}`);
    const app = compileApp(appInput, problem);
    if (!app) return;
    const earlier = seen.get(app.slug);
    if (earlier !== undefined) problem('name', `slug "${app.slug}" is already used by apps[${earlier}]`);
    seen.set(app.slug, appIndex);
    apps.push(app);
  });
  // Array.prototype.sort is stable, so equal orders keep file order.
  apps.sort((a, b) => a.order - b.order);
  const curri = input.curri && compileCurri(input.curri, (field, message) => problems.push(`${at}.curri.${field}: ${message}`));
  return {
    id: input.id,
    description: input.description,
    match: input.match === undefined ? undefined : match,
    apps,
    curri,
  };
}

const CURRI_ACTIONS = ['continue', 'reject', 'divert'];

/** A `curri:` block's templates, compiled and checked: a literal action must be one CUCM knows, a literal divert needs a destination. */
function compileCurri(input: CurriInput, problem: (field: string, message: string) => void): CurriBlock | undefined {
  let failed = false;
  const compile = (field: string, source: string | undefined): Template | undefined => {
    if (source === undefined) return undefined;
    try {
      return compileTemplate(source);
    } catch (error) {
      failed = true;
      problem(field, `template does not compile: ${(error as Error).message.split('\n')[0]}`);
      return undefined;
    }
  };
  if (!input.action.includes('{{') && !CURRI_ACTIONS.includes(input.action)) problem('action', `"${input.action}" is not continue, reject or divert`);
  if (input.action === 'divert' && !input.divert_to) problem('divert_to', 'is required when action is divert');
  const block: CurriBlock = {
    action: compile('action', input.action)!,
    callingName: compile('calling_name', input.calling_name),
    callingNumber: compile('calling_number', input.calling_number),
    calledNumber: compile('called_number', input.called_number),
    divertTo: compile('divert_to', input.divert_to),
    greeting: compile('greeting', input.greeting),
    onError: input.on_error,
    postCall: input.post_call,
  };
  return failed ? undefined : block;
}
