import { z } from 'zod';
import { DEFAULTS } from '../defaults';
import { parseDuration } from '../util/duration';
import { jsonKind } from '../util/json-kind';

/** A duration in whole ms, at most `max`; `positive`: 0 is refused (a timeout of 0 sends nothing). */
const duration = <F extends number | undefined>(fallback: F, max?: string, { positive = false } = {}) => {
  const maxMs = max === undefined ? Infinity : (parseDuration(max) ?? Infinity);
  return z
    .union([z.number(), z.string()])
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (use ms, or 250ms, 5s, 2m, 1h, 7d)` });
        return z.NEVER;
      }
      // A bare number is ms: 0.5 is more likely meant as seconds than as half a millisecond.
      if (!Number.isInteger(ms)) {
        ctx.addIssue({ code: 'custom', message: `${value} is not a whole number of milliseconds (a number is ms; for seconds write "${value}s")` });
        return z.NEVER;
      }
      if (positive && ms === 0) {
        ctx.addIssue({ code: 'custom', message: `must be more than 0` });
        return z.NEVER;
      }
      if (ms > maxMs) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is longer than the ${max} allowed` });
        return z.NEVER;
      }
      return ms;
    });
};

const scalar = z
  .union([z.string(), z.number(), z.boolean()], { error: (issue) => `Invalid input: expected text, a number or a boolean, received ${jsonKind(issue.input)}` })
  .transform(String);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const keyValueMap = z.record(z.string(), scalar);
const keyValueList = z
  .array(z.strictObject({ key: z.string().min(1), value: scalar }))
  .transform((list) => Object.fromEntries(list.map(({ key, value }) => [key, value])));

/**
 * `{Name: value}` or the product's `[{key, value}]` list form; both become ordered pairs. The
 * form is picked by the value's shape rather than by a union, whose failure said only "Invalid
 * input": a problem inside the list is reported at its item (`headers[0].value`).
 */
const keyValues = (what: 'header' | 'query') =>
  z.unknown().optional().transform((value, ctx) => {
    if (value === undefined) return [];
    if (value === null || typeof value !== 'object') {
      ctx.addIssue({ code: 'custom', message: `expected a map of names to values, or a list of {key, value}; received ${jsonKind(value)}` });
      return z.NEVER;
    }
    const parsed = (Array.isArray(value) ? keyValueList : keyValueMap).safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      return z.NEVER;
    }
    const pairs = Object.entries(parsed.data);
    if (what === 'header') {
      for (const [name] of pairs) {
        if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', message: `"${name}" is not a valid header name` });
      }
    }
    return pairs;
  });

const auth = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('basic'), username: z.string(), password: z.string() }),
  z.strictObject({ type: z.literal('bearer'), token: z.string().min(1) }),
  z.strictObject({
    type: z.literal('oauth2'),
    token_url: z.url({ protocol: /^https?$/ }),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
    scope: z.string().optional(),
    client_auth: z.enum(['basic', 'body']).default('basic'),
  }),
]);

/**
 * `N/s`, `N/m` or `N/h`: requests an app may send per period, shared by every worker. N is
 * capped because Redis keeps one entry per send of the last period.
 */
const rateLimit = z.string().transform((value, ctx) => {
  const match = /^\s*(\d+)\s*\/\s*(s|m|h)\s*$/.exec(value);
  const count = match ? Number(match[1]) : 0;
  if (!match || count < 1 || count > 10_000) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a rate (use N/s, N/m or N/h, N from 1 to 10000)` });
    return z.NEVER;
  }
  const periodMs = { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'];
  return { count, periodMs };
});

const circuitRule = z.strictObject({
  failures: z.number().int().min(1).max(1000).default(DEFAULTS.circuit.failures),
  open_for: duration(DEFAULTS.circuit.openForMs, '1h', { positive: true }),
  // Absent: the app's own retry schedule (policies/compile), so the breaker holds a call (and the apps after it) no longer than its retries could.
  max_wait: duration(undefined, '7d'),
});

/**
 * The destination's circuit breaker, on by default; `false` sends this app whatever the circuit
 * says. Picked by shape rather than by a union, whose failure said only "Invalid input" for a
 * bad duration: a problem inside the rule is reported at its field (`circuit.open_for`).
 */
const circuit = z
  .unknown()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return circuitRule.parse({});
    if (value === false) return false as const;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: `expected false or {failures, open_for, max_wait}; received ${jsonKind(value)}` });
      return z.NEVER;
    }
    const parsed = circuitRule.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      return z.NEVER;
    }
    return parsed.data;
  });

/**
 * What is wrong with a Standard Webhooks secret, if anything: `whsec_` and the key in canonical
 * base64, padded (it decodes and re-encodes to the same text). Node decodes nearly anything, but
 * the receivers' libraries in other languages refuse a key without its padding (Python's
 * b64decode), so a key only Node can read would break every signature at the receiver.
 */
export function signingSecretProblem(secret: string): string | undefined {
  if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) return 'must be "whsec_" followed by the base64 key (Standard Webhooks)';
  const key = secret.slice('whsec_'.length);
  if (Buffer.from(key, 'base64').toString('base64') === key) return undefined;
  const why = key.length % 4 === 0 ? 'its last character has bits set that no key has' : `its ${key.length} characters are not a multiple of 4 (base64 is padded with "=")`;
  return (
    `the key after "whsec_" is not canonical base64: ${why}, so receivers' Standard Webhooks libraries in other languages may refuse it. ` +
    'Copy the secret exactly as the receiver gave it, padding included, or make a new one: "whsec_" followed by the output of `openssl rand -base64 32`'
  );
}

const signingSecret = z.string().superRefine((secret, ctx) => {
  const problem = signingSecretProblem(secret);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * Standard Webhooks signing: `secret`, or during a rotation `secrets`, each signing every request
 * (space-separated `v1,` signatures), the current one first.
 */
const signing = z
  .strictObject({
    secret: signingSecret.optional(),
    secrets: z.array(signingSecret).min(1, 'needs at least one secret (the current one first)').optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.secret === undefined) === (value.secrets === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give `secret`, or `secrets` (a list, the current secret first) while a receiver changes secrets; one of them, not both' });
    }
  });

/** An app's signing secrets, the current one first. */
export function signingSecrets(input: { secret?: string | undefined; secrets?: string[] | undefined }): string[] {
  return input.secrets ?? (input.secret === undefined ? [] : [input.secret]);
}

/** Files for a private CA and mutual TLS; read at load. */
const tls = z.strictObject({
  ca_file: z.string().min(1).optional(),
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  reject_unauthorized: z.boolean().default(true),
});

/**
 * The largest `max_response_bytes` of a real-time app. A response is held whole in the API's
 * memory while CUCM (or a /v1/realtime client) waits: 200 MB streamed to each of a few calls took
 * answers to 7-16 s and the API to 1.5 GB. Post-call apps run in workers, one call at a time per slot.
 */
export const MAX_REAL_TIME_RESPONSE_BYTES = 16 * 1024 * 1024;

export const appSchema = z.strictObject({
  name: z.string().min(1),
  slug: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lower-case letters, digits, "-" and "_"')
    .optional(),
  description: z.string().optional(),
  type: z.literal('webhook').default('webhook'),
  phase: z.enum(['post_call', 'real_time']).default('post_call'),
  order: z.number().int().default(DEFAULTS.app.order),
  url: z.string().min(1),
  allow_templated_host: z.boolean().default(false),
  method: z
    .string()
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']))
    .default('GET'),
  auth: auth.default({ type: 'none' }),
  headers: keyValues('header'),
  query: keyValues('query'),
  /** A value (json, form) or text; what it may be depends on `body_format` (checked when compiled). */
  body: z.unknown().optional(),
  body_format: z.enum(['json', 'form', 'text']).default('json'),
  content_type: z.string().regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'is not a valid Content-Type').optional(),
  signing: signing.optional(),
  tls: tls.optional(),
  // Bounds one attempt; past 2^31 ms Node's timers would fire at once, and an hour is no webhook.
  timeout: duration(DEFAULTS.app.timeoutMs, '1h', { positive: true }),
  retry_count: z.number().int().min(0).max(20).default(DEFAULTS.app.retryCount),
  // Doubled for each retry (up to 20): an hour is already weeks by the last one.
  retry_delay: duration(DEFAULTS.app.retryDelayMs, '1h'),
  retry_on_status: z.array(z.number().int().min(400).max(599)).default([]),
  retry_jitter: z.number().min(0).max(1).default(DEFAULTS.app.retryJitter),
  rate_limit: rateLimit.optional(),
  rate_limit_key: z.string().min(1).optional(),
  circuit,
  when: z.string().optional(),
  message: z.string().optional(),
  on_failure: z.enum(['continue', 'stop']).default('continue'),
  max_response_bytes: z.number().int().positive().default(DEFAULTS.app.maxResponseBytes),
  max_request_bytes: z.number().int().positive().default(DEFAULTS.app.maxRequestBytes),
}).refine(
  (app) => app.phase !== 'real_time' || typeof app.max_response_bytes !== 'number' || app.max_response_bytes <= MAX_REAL_TIME_RESPONSE_BYTES,
  {
    path: ['max_response_bytes'],
    message: `is over ${MAX_REAL_TIME_RESPONSE_BYTES} (16 MiB), the most a real-time app may read: its response is read while the call waits, in the API's memory; lower it (the default is ${DEFAULTS.app.maxResponseBytes})`,
    when: ({ value }) => typeof value === 'object' && value !== null && !Array.isArray(value),
  },
).refine(
  (app) => (app.body_format ?? 'json') !== 'json' || typeof app.body !== 'string' || isJsonText(app.body),
  // Checked even when other fields have problems (so the file's problems all show at once), but
  // only on an object: an app that is null or a list has its own problem already.
  { path: ['body'], message: 'not valid JSON text', when: ({ value }) => typeof value === 'object' && value !== null && !Array.isArray(value) },
);

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** What CUCM is told when it asks through CURRI: rendered after the real-time apps. */
export const curriSchema = z.strictObject({
  /** continue, reject or divert: literally, or a template rendering to one of them. */
  action: z.string().default('continue'),
  calling_name: z.string().optional(),
  calling_number: z.string().optional(),
  called_number: z.string().optional(),
  divert_to: z.string().optional(),
  greeting: z.string().optional(),
  on_error: z.enum(['continue', 'reject']).default('continue'),
  post_call: z.boolean().default(true),
});

export const policySchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/, 'use lower-case letters, digits and "-"'),
  description: z.string().optional(),
  match: z.record(z.string(), z.string()).optional(),
  apps: z.array(appSchema).default([]),
  curri: curriSchema.optional(),
});

export const configSchema = z.strictObject({ policies: z.array(policySchema) });

export type AppInput = z.infer<typeof appSchema>;
export type PolicyInput = z.infer<typeof policySchema>;
export type CurriInput = z.infer<typeof curriSchema>;
