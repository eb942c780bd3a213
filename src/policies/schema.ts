import { z } from 'zod';
import { DEFAULTS } from '../defaults';
import { parseDuration } from '../util/duration';

const duration = (fallback: number, max?: string) => {
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
      if (ms > maxMs) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is longer than the ${max} allowed` });
        return z.NEVER;
      }
      return ms;
    });
};

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `{Name: value}` or the product's `[{key, value}]` list form; both become ordered pairs. */
const keyValues = (what: 'header' | 'query') =>
  z
    .union([
      z.record(z.string(), scalar),
      z.array(z.strictObject({ key: z.string().min(1), value: scalar })).transform((list) =>
        Object.fromEntries(list.map(({ key, value }) => [key, value])),
      ),
    ])
    .optional()
    .transform((value) => Object.entries(value ?? {}))
    .superRefine((pairs, ctx) => {
      if (what !== 'header') return;
      for (const [name] of pairs) {
        if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', message: `"${name}" is not a valid header name` });
      }
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

/** A JSON text body is parsed at load, so a broken body is a config error, not a 3 a.m. surprise. */
const body = z.unknown().transform((value, ctx) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not valid JSON text: ${(error as Error).message}` });
    return z.NEVER;
  }
});

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
  body: body.optional(),
  // Bounds one attempt; past 2^31 ms Node's timers would fire at once, and an hour is no webhook.
  timeout: duration(DEFAULTS.app.timeoutMs, '1h'),
  retry_count: z.number().int().min(0).max(20).default(DEFAULTS.app.retryCount),
  retry_delay: duration(DEFAULTS.app.retryDelayMs),
  retry_on_status: z.array(z.number().int().min(400).max(599)).default([]),
  when: z.string().optional(),
  message: z.string().optional(),
  on_failure: z.enum(['continue', 'stop']).default('continue'),
  max_response_bytes: z.number().int().positive().default(DEFAULTS.app.maxResponseBytes),
});

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
