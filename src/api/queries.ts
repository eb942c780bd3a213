import { z } from 'zod';
import type { CallStatus } from '../model/call';
import type { Policy } from '../policies/types';
import { inRunOrder } from '../pipeline/run-order';
import { decodeCursor, encodeCursor, type CallIndex, type CallRow } from '../store/call-index';
import { MAX_ENTRY_ID_PART } from '../store/results-feed';
import { parseDuration, readTimeBound, timeBoundProblem, type TimeBound } from '../util/duration';
import { formatPath } from '../util/format-path';

const STATUSES: readonly CallStatus[] = ['queued', 'running', 'completed', 'partial', 'failed', 'unmatched'];

/** Whether `id` is a stream entry id (`<ms>-<seq>`, or `<ms>`), `0` for the start, that Redis takes. */
export function isFeedEntryId(id: string): boolean {
  return /^\d{1,20}(-\d{1,20})?$/.test(id) && id.split('-').every((part) => BigInt(part) <= MAX_ENTRY_ID_PART);
}

/**
 * The given statuses (repeated or comma-separated), and those that are not one. An empty one
 * (`status=`, `status=,`) is not one either: dropping it made the filter match every call,
 * where every other empty parameter is refused.
 */
export function splitStatuses(values: readonly string[]): { statuses: CallStatus[]; unknown: string[] } {
  const statuses = values.flatMap((v) => v.split(',')).map((v) => v.trim());
  return { statuses: statuses as CallStatus[], unknown: [...new Set(statuses.filter((s) => !STATUSES.includes(s as CallStatus)))] };
}

/** What a status filter with unknown statuses is told. */
export function unknownStatusesProblem(unknown: readonly string[]): string {
  return `${unknown.map((b) => `"${b}"`).join(', ')}: use ${STATUSES.join(', ')}`;
}

/**
 * A page size from the query string: decimal digits only (coercing with Number() took `0x10`,
 * `1e2` and ` 16`), 1-500, `fallback` when absent.
 */
function pageSize(fallback: number, what: string) {
  const limit = z.number({ error: (issue) => (issue.code === 'invalid_type' ? 'must be a whole number from 1 to 500' : undefined) }).int().min(1).max(500);
  return z.preprocess((v) => (typeof v === 'string' && /^[0-9]{1,9}$/.test(v) ? Number(v) : v), limit.default(fallback)).describe(what);
}

/** A time bound, kept as given: a duration back from now is resolved at the list's now, by Redis's clock. */
const timeBound = z.string().transform((value, ctx): TimeBound => {
  const bound = readTimeBound(value);
  if (!bound) ctx.addIssue({ code: 'custom', message: timeBoundProblem(value) });
  return bound ?? { at: 0 };
});

/** `GET /v1/calls` query: filters, page size, cursor. `status` is one or more statuses (repeated or comma-separated). */
export const listQuery = z.strictObject({
  status: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const { statuses, unknown } = splitStatuses([value].flat());
      if (unknown.length > 0) ctx.addIssue({ code: 'custom', message: unknownStatusesProblem(unknown) });
      return statuses;
    })
    .describe(`one or more of ${STATUSES.join(', ')} (repeat it, or comma-separate)`),
  policy: z.string().regex(/^[a-z0-9-]+$/, 'is not a policy id').optional().describe('a policy id'),
  number: z.string().min(1).max(256).optional().describe('the calling or the called number, exactly or by its digits'),
  since: timeBound.optional().describe('last change at or after: ISO 8601, or a duration back from now with its unit (30m, 1h, 7d; a number alone is refused)'),
  until: timeBound.optional().describe('last change at or before: ISO 8601, or a duration back from now with its unit'),
  limit: pageSize(50, 'calls per page'),
  cursor: z
    .string()
    .max(1024)
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const position = decodeCursor(value);
      if (!position) ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave out' });
      return position;
    })
    .describe('`next_cursor` of the previous page'),
});

const MAX_WAIT_MS = 60_000;
/**
 * A long poll's wait: a number with its unit. A number alone is refused, as `since` refuses one:
 * read as milliseconds, `wait=5` answered in 9 ms, and a client asking for `30` polled in a busy loop.
 */
const WAIT_PATTERN = /^\d+(\.\d+)?(ms|s|m)$/;

function waitProblem(value: string): string {
  if (/^\d+(\.\d+)?$/.test(value.trim())) return `"${value}" is a number alone: give it its unit (30s, 500ms, 1m)`;
  return `"${value}" is not a duration such as 30s (a number with ms, s or m; at most 60s)`;
}

/** `GET /v1/results` query. */
export const feedQuery = z.strictObject({
  after: z.string().refine(isFeedEntryId, 'is not a feed entry id (such as 1764400000000-0)').default('0').describe('read entries after this id (`0`: from the oldest kept)'),
  limit: pageSize(100, 'entries per answer'),
  wait: z
    .string()
    .regex(WAIT_PATTERN, { error: (issue) => waitProblem(String(issue.input)) })
    // On the string: an example of a value a transform reshapes is left out of the input schema.
    .meta({ examples: ['30s'] })
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return 0;
      const ms = parseDuration(value) ?? 0;
      if (ms > MAX_WAIT_MS) ctx.addIssue({ code: 'custom', message: `"${value}" is over 60s` });
      return Math.min(ms, MAX_WAIT_MS);
    })
    .describe('with nothing new, wait this long (at most 60s) for the next entry: a number with its unit, ms, s or m'),
});

/** `POST /v1/call-test` query: the report's format (JSON when absent). */
export const callTestQuery = z.strictObject({
  format: z.enum(['text'], 'use text, or leave it out for JSON').optional().describe('`text`: the report as plain text'),
});

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Validates a query, each problem naming its parameter. */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): Parsed<z.output<S>> {
  const parsed = schema.safeParse(query ?? {});
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.code === 'unrecognized_keys' ? `unknown parameter${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` : issue.message}`) };
}

/** One page of a validated list query, as `GET /v1/calls` answers it (and `callhook calls` prints it). */
export async function listCalls(index: CallIndex, policies: ReadonlyMap<string, Policy>, query: z.output<typeof listQuery>): Promise<{ calls: CallRow[]; next_cursor: string | null }> {
  const filters = { statuses: query.status, policy: query.policy, number: query.number, since: query.since, until: query.until };
  const page = await index.list(filters, query.limit, query.cursor);
  const calls = page.rows.map((row) => ({ ...row, apps: inRunOrder(row.apps, row.policy ? policies.get(row.policy) : undefined) }));
  return { calls, next_cursor: page.next ? encodeCursor(page.next) : null };
}
