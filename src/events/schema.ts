import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { LIMITS } from '../defaults';
import type { CallEvent } from '../model/call';
import { formatPath } from '../util/format-path';
import { startsWithCalendarDate } from '../util/duration';
import { jsonKind } from '../util/json-kind';

/** Events larger than this (as JSON) are refused. */
export const MAX_EVENT_BYTES = LIMITS.eventBytes;
/** The standard string fields are matched by policies and shown everywhere: a sane length. */
const TOO_LONG = `is longer than ${LIMITS.eventFieldChars} characters`;
const field = () => z.string().max(LIMITS.eventFieldChars, TOO_LONG);

/**
 * A call id is a Redis key, a BullMQ job id, a URL segment and half of an Idempotency-Key
 * header, so it is limited to characters that are safe in all four.
 */
export const CALL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@~-]{0,199}$/;

/**
 * The timestamps the schema takes, as one pattern: the OpenAPI document carries it, so a
 * generated client refuses what the API refuses. A date that exists in the years 1000-9999
 * (2026-02-30 does not, nor 2025-02-29; Date.parse read `0099-01-01 10:00` as 1999), then
 * optionally a time (hours 00-23, or 24:00 as Date.parse takes it) and a zone. More than RFC
 * 3339's `format: date-time` takes (it wants seconds and a zone), so the document has no format.
 */
const YEAR = '[1-9]\\d{3}';
const MONTH_DAY = '(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))';
const LEAP_DAY = '(?:[1-9]\\d(?:0[48]|[2468][048]|[13579][26])|(?:1[26]|[2468][048]|[3579][26])00)-02-29';
const TIME = '(?:(?:[01]\\d|2[0-3]):[0-5]\\d(?::[0-5]\\d(?:\\.\\d+)?)?|24:00(?::00(?:\\.0+)?)?)';
const ZONE = '(?:Z|[+-](?:[01]\\d|2[0-3]):?[0-5]\\d)';
const ISO_8601 = new RegExp(`^(?:${YEAR}-${MONTH_DAY}|${LEAP_DAY})(?:[T ]${TIME}${ZONE}?)?$`);

/** A call event as producers send it: validates every event the API and Call Test take, and documents them (OpenAPI). */
export const eventSchema = z.looseObject({
  calling_number: field().min(1, 'is required'),
  called_number: field().min(1, 'is required'),
  call_id: z
    .string()
    .regex(CALL_ID_PATTERN, 'use 1-200 letters, digits and . _ @ ~ - (starting with a letter or digit)')
    .optional(),
  calling_name: field().optional(),
  calling_devicename: field().optional(),
  trigger_point_type: field().optional(),
  timestamp: z
    .string()
    // The pattern is in the OpenAPI document too, so generated clients check it as the API does.
    .regex(ISO_8601, { message: 'must be an ISO 8601 date-time', abort: true })
    .refine((t) => startsWithCalendarDate(t) && !Number.isNaN(Date.parse(t)), 'must be an ISO 8601 date-time')
    .optional()
    .describe('ISO 8601, on a date that exists (years 1000-9999): 2026-12-01, 2026-12-01T10:00, 2026-12-01T10:00:00.123Z, 2026-12-01 10:00:00+01:00; now when absent'),
  policy: field().min(1, 'must not be empty').optional(),
  app_data: z.record(z.string(), z.unknown()).optional(),
});

export type { CallEvent };

export type EventCheck = { ok: true; event: CallEvent } | { ok: false; problems: string[] };

/**
 * The JSON of each validated event, made once for the size check and reused when the event is
 * stored (a CDR event with every raw field is 4-5 KB; serialising it twice showed in profiles).
 */
const serialized = new WeakMap<CallEvent, string>();

/** The event as JSON, from parseEvent's cache when it made it. */
export function eventJson(event: CallEvent): string {
  return serialized.get(event) ?? JSON.stringify(event);
}

/** An event as the queue takes it: its id and the JSON that is stored. */
export interface SerializedEvent {
  readonly call_id: string;
  readonly json: string;
  /** What the call record and its indexes keep beside the JSON. */
  readonly calling_number: string;
  readonly called_number: string;
  readonly policy: string | undefined;
}

/**
 * The event's queue form. A producer with thousands of events in flight (the CDR ingester)
 * holds these instead of the events: holding CDR events with their raw-field maps had tripled
 * its garbage-collection time.
 */
export function serializeEvent(event: CallEvent): SerializedEvent {
  return { call_id: event.call_id, json: eventJson(event), calling_number: event.calling_number, called_number: event.called_number, policy: event.policy };
}

/** Validates one event and fills in `call_id` (a UUID) and `timestamp` (now) when absent. */
export function parseEvent(input: unknown, now: () => Date = () => new Date()): EventCheck {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, problems: ['(root): an event must be a JSON object'] };
  }
  // reportInput: without it zod 4 leaves `input` out of every issue, and a field of the wrong type looked missing.
  const parsed = eventSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue)}`),
    };
  }
  const event = { ...parsed.data, call_id: parsed.data.call_id ?? randomUUID(), timestamp: parsed.data.timestamp ?? now().toISOString() } as CallEvent;
  return acceptBuiltEvent(event, JSON.stringify(event));
}

/**
 * Accepts an event that callhook's own code built valid by construction (the CDR mapper),
 * given its JSON: only the size limit is checked, and the JSON is kept for the store. On the
 * CDR path a second schema pass and serialisation were a fifth of the ingester's CPU.
 */
export function acceptBuiltEvent(event: CallEvent, json: string): EventCheck {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so most events need no byte count.
  const size = json.length * 3 <= MAX_EVENT_BYTES ? json.length : Buffer.byteLength(json);
  if (size > MAX_EVENT_BYTES) {
    return { ok: false, problems: [`(root): event is ${size} bytes; the limit is ${MAX_EVENT_BYTES}`] };
  }
  serialized.set(event, json);
  return { ok: true, event };
}

/** The fields the schema limits to LIMITS.eventFieldChars. */
const LIMITED_FIELDS = ['calling_number', 'called_number', 'calling_name', 'calling_devicename', 'trigger_point_type', 'policy'] as const;

/**
 * Those of `names` (by default the fields the schema limits) holding a string longer than
 * LIMITS.eventFieldChars, worded as the schema words them: for events built without a schema pass.
 */
export function overlongFields(event: CallEvent, names: readonly string[] = LIMITED_FIELDS): string[] {
  return names.filter((name) => {
    const value = (event as unknown as Record<string, unknown>)[name];
    return typeof value === 'string' && value.length > LIMITS.eventFieldChars;
  }).map((name) => `${name}: ${TOO_LONG}`);
}

/**
 * Accepts an event callhook built from strings it decoded itself (a CURRI request): the schema's
 * field length limit and required numbers are checked, worded as the schema words them, without
 * a schema pass (it cost as much as reading the XML; npm run bench:curri).
 */
export function acceptDecodedEvent(event: CallEvent): EventCheck {
  // Every field it decoded is limited, not only the schema's.
  const problems = overlongFields(event, Object.keys(event));
  for (const name of ['calling_number', 'called_number'] as const) if (!event[name]) problems.push(`${name}: is required`);
  return problems.length > 0 ? { ok: false, problems } : acceptBuiltEvent(event, JSON.stringify(event));
}

/** What is wrong with a call_id as an event gives it (nothing: an empty list), worded as parseEvent words it. */
export function callIdProblems(value: unknown): string[] {
  const parsed = eventSchema.shape.call_id.safeParse(value, { reportInput: true });
  return parsed.success ? [] : parsed.error.issues.map((issue) => `call_id: ${describeIssue(issue)}`);
}

/** An issue as a producer reads it: a field left out is `is required`, one of the wrong type says what it should be. */
function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_type') return issue.message;
  if (issue.input === undefined) return 'is required';
  return `expected ${aKind(issue.expected)}, got ${aKind(jsonKind(issue.input))}`;
}

/** `a string`, `an object` (what zod calls a record), `null`. */
function aKind(kind: string): string {
  const name = kind === 'record' ? 'object' : kind;
  return name === 'null' ? 'null' : `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;
}

/**
 * Validates a single event or an array of events. All or nothing: problems from every event
 * are returned (prefixed with `[i].` in a batch) and no event is returned when any is bad.
 */
export function parseEvents(input: unknown): { ok: true; events: CallEvent[] } | { ok: false; problems: string[] } {
  const batch = Array.isArray(input);
  const items: unknown[] = batch ? (input as unknown[]) : [input];
  if (batch && items.length === 0) return { ok: false, problems: ['(root): the batch is empty'] };
  const events: CallEvent[] = [];
  const problems: string[] = [];
  items.forEach((item, i) => {
    const check = parseEvent(item);
    const prefix = batch ? `[${i}]` : '';
    if (!check.ok) {
      problems.push(...check.problems.map((p) => (batch ? `${prefix}${p.startsWith('(root)') ? p.slice(6) : `.${p}`}` : p)));
      return;
    }
    events.push(check.event);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, events };
}

/** Why calls offered to the queue are refused: the code and message the API answers with, and each problem. */
export type CallsCheck =
  | { ok: true; events: CallEvent[] }
  | { ok: false; code: 'CALLHOOK_EVENT_INVALID' | 'CALLHOOK_POLICY_NOT_FOUND'; message: string; problems: string[] };

/**
 * The checks of `POST /v1/calls`, which the in-process producer makes too: at most
 * LIMITS.batchEvents events, each valid, and each policy an event names one of `policies` (not
 * checked without them). A policy named that does not exist is a mistake to report now, not a
 * call found `unmatched` later.
 */
export function checkCalls(input: unknown, policies: { has(id: string): boolean } | undefined): CallsCheck {
  const batch = Array.isArray(input);
  if (batch && input.length > LIMITS.batchEvents) {
    const message = `a batch holds at most ${LIMITS.batchEvents} events`;
    return { ok: false, code: 'CALLHOOK_EVENT_INVALID', message, problems: [`(root): ${message}`] };
  }
  const parsed = parseEvents(input);
  if (!parsed.ok) return { ok: false, code: 'CALLHOOK_EVENT_INVALID', message: 'invalid call event; nothing was queued', problems: parsed.problems };
  const unknown = policies
    ? parsed.events.flatMap((event, i) => (event.policy !== undefined && !policies.has(event.policy) ? [`${batch ? `[${i}].` : ''}policy: no policy "${event.policy}"`] : []))
    : [];
  if (unknown.length > 0) return { ok: false, code: 'CALLHOOK_POLICY_NOT_FOUND', message: 'an event names a policy that does not exist; nothing was queued', problems: unknown };
  return parsed;
}
