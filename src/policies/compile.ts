import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RE2JS } from 're2js';
import { compileBody } from '../templates/body';
import { compileTemplate, compileUrlTemplate, type Template } from '../templates/engine';
import { alwaysHasControlCharacter } from '../templates/request';
import { templateErrorMessage } from '../templates/syntax-error';
import { longestSchedule, type RetrySchedule } from '../util/backoff';
import { fieldReader, matchFieldProblem } from './match-field';
import { signingSecrets, type AppInput, type CurriInput, type PolicyInput } from './schema';
import type { AppBody, CurriBlock, FieldMatch, Policy, TlsOptions, WebhookApp } from './types';

/**
 * An app's retry schedule. Its longest is the default circuit.max_wait: apps run in order, so a
 * call held for one app's circuit holds the apps after it too, and without the breaker that app
 * would have been done (sent, retried, failed) within its retries anyway.
 */
function retrySchedule(input: AppInput): RetrySchedule {
  return { retryCount: input.retry_count, retryDelayMs: input.retry_delay, retryJitter: input.retry_jitter, timeoutMs: input.timeout };
}

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

/** `scheme://host:port` of a URL whose authority is literal, for the circuit breaker; undefined when templated. */
function literalDestination(url: string): string | undefined {
  const templated = url.indexOf('{{');
  const literal = templated === -1 ? url : url.slice(0, templated);
  if (!CLOSED_AUTHORITY.test(literal) && templated !== -1) return undefined;
  try {
    return destinationOf(templated === -1 ? url : literal);
  } catch {
    return undefined;
  }
}

/** `scheme://host:port` of a URL, the port always written. @throws TypeError on a URL that does not parse */
export function destinationOf(url: string): string {
  const { protocol, hostname, port } = new URL(url);
  return `${protocol}//${hostname}:${port || (protocol === 'https:' ? '443' : '80')}`;
}

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** The body as its format needs it; each problem names its field. */
function compileAppBody(input: AppInput, compile: (field: string, source: string) => Template, problem: (field: string, message: string) => void, quote: boolean): AppBody | undefined {
  const { body } = input;
  if (body === undefined) return undefined;
  switch (input.body_format) {
    case 'json': {
      // JSON text is parsed at load (the schema has checked it), so a broken body is a config error, not a 3 a.m. surprise.
      const value: unknown = typeof body === 'string' ? JSON.parse(body) : body;
      try {
        return { format: 'json', node: compileBody(value) };
      } catch (error) {
        problem('body', `template does not compile: ${templateErrorMessage(error, quote)}`);
        return undefined;
      }
    }
    case 'form': {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        problem('body', 'with body_format: form, body is a map of field names to values');
        return undefined;
      }
      const fields: (readonly [string, Template])[] = [];
      for (const [name, value] of Object.entries(body)) {
        if (value !== null && typeof value === 'object') problem(`body.${name}`, 'a form field is text, a number or a boolean (nested values cannot be form-encoded)');
        else fields.push([name, compile(`body.${name}`, value === null ? '' : String(value))]);
      }
      return { format: 'form', fields };
    }
    case 'text':
      if (typeof body !== 'string') {
        problem('body', 'with body_format: text, body is one template (a string), sent as it renders');
        return undefined;
      }
      if (input.content_type === undefined) problem('content_type', 'is required with body_format: text (application/xml, text/plain; charset=utf-8...)');
      return { format: 'text', template: compile('body', body) };
  }
}

/** Reads an app's TLS files and checks they hold what they should; each problem names its field. */
function compileTls(input: NonNullable<AppInput['tls']>, baseDir: string, problem: (field: string, message: string) => void): TlsOptions {
  const read = (field: string, file: string | undefined, check: (pem: string) => unknown, what: string): string | undefined => {
    if (file === undefined) return undefined;
    let pem: string;
    try {
      pem = readFileSync(resolve(baseDir, file), 'utf8');
    } catch (error) {
      problem(`tls.${field}`, `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
    try {
      check(pem);
    } catch (error) {
      problem(`tls.${field}`, `${file} is not ${what} (${(error as Error).message})`);
    }
    return pem;
  };
  if ((input.cert_file === undefined) !== (input.key_file === undefined)) problem(input.cert_file ? 'tls.key_file' : 'tls.cert_file', 'a client certificate needs both cert_file and key_file');
  return {
    ca: read('ca_file', input.ca_file, (pem) => new X509Certificate(pem), 'a PEM certificate'),
    cert: read('cert_file', input.cert_file, (pem) => new X509Certificate(pem), 'a PEM certificate'),
    key: read('key_file', input.key_file, (pem) => createPrivateKey(pem), 'a PEM private key'),
    rejectUnauthorized: input.reject_unauthorized,
  };
}

const CONTROL_CHARACTER = 'contains a control character (CR, LF, NUL...) that no header can carry, so every call would fail; look for a line break in the file or in a ${VARIABLE} it uses';

/**
 * Compiles one app's templates; each failure is reported against its own field, quoting the
 * template's text only when no secret was substituted into it (`holdsSecret`).
 */
function compileApp(input: AppInput, baseDir: string, problem: (field: string, message: string) => void, holdsSecret: (field: string) => boolean): WebhookApp | undefined {
  const slug = input.slug ?? slugify(input.name);
  if (slug === '') problem('name', 'has no letters or digits to make a slug from; set `slug:`');
  checkUrl(input, problem);
  if (input.body !== undefined && input.method === 'GET') problem('body', 'a GET request carries no body; use POST');
  if (input.rate_limit && input.phase === 'real_time') problem('rate_limit', 'applies to post-call apps only: a real-time app cannot wait for a slot');
  if (input.rate_limit_key !== undefined && !input.rate_limit) problem('rate_limit_key', 'needs a rate_limit: the key names the limit the app shares, and the app gives its rate');
  if (input.tls && /^http:\/\//i.test(input.url)) problem('tls', 'applies to https:// URLs only; this one is http://, sent without TLS');
  const signingKeys = input.signing && signingSecrets(input.signing).map((secret, i) => {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const field = input.signing!.secrets ? `signing.secrets[${i}]` : 'signing.secret';
    if (key.length < 16) problem(field, `the key is ${key.length} bytes; use at least 16 (24 or more random bytes, as Standard Webhooks recommends)`);
    return key;
  });

  let failed = false;
  const compile = (field: string, source: string, compiler = compileTemplate): Template => {
    try {
      return compiler(source);
    } catch (error) {
      failed = true;
      problem(field, `template does not compile: ${templateErrorMessage(error, !holdsSecret(field))}`);
      return compileTemplate('');
    }
  };
  const url = compile('url', input.url, (source) => compileUrlTemplate(source, { templatedOrigin: input.allow_templated_host }));
  const query = input.query.map(([k, v]) => [k, compile(`query.${k}`, v)] as const);
  const headers = input.headers.map(([k, v]) => [k, compile(`headers.${k}`, v)] as const);
  for (const [name, value] of input.headers) if (alwaysHasControlCharacter(value)) problem(`headers.${name}`, CONTROL_CHARACTER);
  if (input.auth.type === 'bearer' && alwaysHasControlCharacter(input.auth.token)) problem('auth.token', CONTROL_CHARACTER);
  const body = compileAppBody(
    input,
    compile,
    (field, message) => {
      failed = true;
      problem(field, message);
    },
    !holdsSecret('body'),
  );
  const when = input.when === undefined ? undefined : compile('when', input.when);
  const message = input.message === undefined ? undefined : compile('message', input.message);
  const rateLimitKey = input.rate_limit_key === undefined ? undefined : compile('rate_limit_key', input.rate_limit_key);
  const tls = input.tls && compileTls(input.tls, baseDir, (field, message) => {
    failed = true;
    problem(field, message);
  });
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
    contentType: input.content_type ?? (input.body_format === 'form' ? FORM_CONTENT_TYPE : 'application/json'),
    auth: input.auth,
    destination: literalDestination(input.url),
    signingKeys,
    tls,
    rateLimit: input.rate_limit && { ...input.rate_limit, intervalMs: input.rate_limit.periodMs / input.rate_limit.count },
    rateLimitKey,
    circuit: input.circuit && { failures: input.circuit.failures, openForMs: input.circuit.open_for, maxWaitMs: input.circuit.max_wait ?? longestSchedule(retrySchedule(input)) },
    timeoutMs: input.timeout,
    retryCount: input.retry_count,
    retryDelayMs: input.retry_delay,
    retryOnStatus: new Set(input.retry_on_status),
    retryJitter: input.retry_jitter,
    when,
    message,
    onFailure: input.on_failure,
    maxResponseBytes: input.max_response_bytes,
    maxRequestBytes: input.max_request_bytes,
  };
}

/**
 * A `match` rule. Patterns run on caller-controlled fields in the API and the worker, so they
 * run on RE2 (linear time, no catastrophic backtracking): `^(\w+\s?)*$` against 40 letters
 * and a `!` took hours with JavaScript's engine and takes microseconds here.
 */
export function compileMatch(field: string, pattern: string): FieldMatch {
  const regex = RE2JS.compile(pattern);
  return { field, pattern, read: fieldReader(field), test: (value) => regex.test(value) };
}

/**
 * Builds a policy; `problems` receives `policies[i]...`-prefixed messages. Relative TLS file
 * paths are read from `baseDir` (the policies file's directory). `appIndexes` are the apps'
 * indexes in the file when `input.apps` holds only some of them. `holdsSecret` tells whether a
 * secret was substituted into a field (`policies[0].apps[1].headers.X-Api-Key`) or under it.
 */
export function compilePolicy(
  input: PolicyInput,
  index: number,
  problems: string[],
  baseDir = '.',
  appIndexes?: readonly number[],
  holdsSecret: (path: string) => boolean = () => false,
): Policy {
  const at = `policies[${index}]`;
  const match: FieldMatch[] = [];
  for (const [field, pattern] of Object.entries(input.match ?? {})) {
    const fieldProblem = matchFieldProblem(field);
    if (fieldProblem) {
      problems.push(`${at}.match.${field}: ${fieldProblem}`);
      continue;
    }
    try {
      match.push(compileMatch(field, pattern));
    } catch (error) {
      problems.push(`${at}.match.${field}: ${(error as Error).message} (match uses RE2 syntax: no lookaround or backreferences)`);
    }
  }
  const apps: WebhookApp[] = [];
  const seen = new Map<string, number>();
  input.apps.forEach((appInput, position) => {
    const appIndex = appIndexes?.[position] ?? position;
    const problem = (field: string, message: string) => problems.push(`${at}.apps[${appIndex}].${field}: ${message}`);
    const app = compileApp(appInput, baseDir, problem, (field) => holdsSecret(`${at}.apps[${appIndex}].${field}`));
    if (!app) return;
    // Each clash names the first app with the slug: it is the one keeping it.
    const first = seen.get(app.slug);
    if (first === undefined) seen.set(app.slug, appIndex);
    else problem(appInput.slug === undefined ? 'name' : 'slug', `slug "${app.slug}" is already used by apps[${first}]; give this app its own \`slug:\` (its result is app_data.<slug>)`);
    apps.push(app);
  });
  // Array.prototype.sort is stable, so equal orders keep file order.
  apps.sort((a, b) => a.order - b.order);
  const curri =
    input.curri &&
    compileCurri(
      input.curri,
      (field, message) => problems.push(`${at}.curri.${field}: ${message}`),
      (field) => holdsSecret(`${at}.curri.${field}`),
    );
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
function compileCurri(input: CurriInput, problem: (field: string, message: string) => void, holdsSecret: (field: string) => boolean): CurriBlock | undefined {
  let failed = false;
  const compile = (field: string, source: string | undefined): Template | undefined => {
    if (source === undefined) return undefined;
    try {
      return compileTemplate(source);
    } catch (error) {
      failed = true;
      problem(field, `template does not compile: ${templateErrorMessage(error, !holdsSecret(field))}`);
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
