/**
 * The `date` helper's reading and formatting. Everything is UTC unless a time zone is named, so
 * the output never depends on the server's own zone.
 */

/** Epoch values at or above this are milliseconds: as seconds they would be after the year 5138, as milliseconds they are after March 1973. */
const MILLISECONDS_FROM = 1e11;
/** Years 0000 to 9999: what `YYYY` and ISO 8601 without a sign can write. */
const EARLIEST = -62167219200000;
const LATEST = 253402300799999;

/** ISO 8601 as call data carries it: a date, optionally a time, optionally an offset (none = UTC). */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const DECIMAL = /^\s*[+-]?\d+(?:\.\d+)?\s*$/;
const TOKENS = /\[([^\]]*)\]|YYYY|SSS|MM|DD|HH|mm|ss/g;

/**
 * Whether `formatInstant` reads all of a format: `iso`, `unix`, or tokens and `[literal text]`
 * with no other letter (`yyyy-MM-dd` would write `yyyy-06-dd`).
 */
export function isDateFormat(format: string): boolean {
  return format === 'iso' || format === 'unix' || !/[A-Za-z]/.test(format.replace(TOKENS, ''));
}

/** Epoch ms of UTC fields; unlike Date.UTC, years 0-99 stay years 0-99 (not 1900-1999). */
function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime();
}

/** Minutes east of UTC of `Z`, `±hh`, `±hhmm` or `±hh:mm`; NaN when out of range. */
function offsetMinutes(zone: string | undefined): number {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const [hours, minutes] = [Number(digits.slice(0, 2)), Number(digits.slice(2) || 0)];
  if (hours > 23 || minutes > 59) return NaN;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

function fromIso(text: string): number | undefined {
  const m = ISO_DATE.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((field) => Number(field ?? 0)) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const offset = offsetMinutes(m[8]);
  // Date would roll 2026-02-30 over into March; a date that does not exist is invalid input.
  if (month < 1 || month > 12 || new Date(utc(year, month, day)).getUTCDate() !== day) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || Number.isNaN(offset)) return undefined;
  return utc(year, month, day, hour, minute, second, ms) - offset * 60_000;
}

/**
 * Epoch ms of a Date, an ISO 8601 string, or epoch seconds (a number or a decimal string, as
 * CUCM CDRs write them; milliseconds when that large). 0 and negative epochs are no time: CUCM
 * writes 0 for a connect time that never happened. Undefined when it is none of these.
 */
export function instantOf(value: unknown): number | undefined {
  let ms: number | undefined;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'string' && value.length > 64) return undefined; // longer than any date: skip the regexes
  else if (typeof value === 'number' || (typeof value === 'string' && DECIMAL.test(value))) {
    const n = Number(value);
    if (Number.isFinite(n) && n > 0) ms = n >= MILLISECONDS_FROM ? n : n * 1000;
  } else if (typeof value === 'string') ms = fromIso(value.trim());
  return ms !== undefined && ms >= EARLIEST && ms <= LATEST ? Math.floor(ms) : undefined;
}

/** Formatters per IANA zone name, a few at most in practice; capped because the name may come from call data. */
const zones = new Map<string, Intl.DateTimeFormat>();

/** A formatter for the zone, undefined when Intl does not know it. */
export function zoneFormat(name: string): Intl.DateTimeFormat | undefined {
  let format = zones.get(name);
  if (format || name.length > 64) return format;
  try {
    format = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', era: 'short', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  } catch {
    return undefined; // RangeError: not a time zone
  }
  if (zones.size >= 100) zones.clear();
  zones.set(name, format);
  return format;
}

/** Minutes the zone's wall clock is ahead of UTC at that instant. */
function offsetIn(zone: Intl.DateTimeFormat, ms: number): number {
  const parts = zone.formatToParts(ms);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const year = parts.some((p) => p.type === 'era' && p.value === 'BC') ? 1 - part('year') : part('year');
  const wall = utc(year, part('month'), part('day'), part('hour'), part('minute'), part('second'));
  return Math.round((wall - (ms - (((ms % 1000) + 1000) % 1000))) / 60_000);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * Formats an instant with YYYY MM DD HH mm ss SSS (`[text]` is literal), or `iso` (ISO 8601
 * with `Z` or the zone's offset) or `unix` (epoch seconds); in UTC unless a zone is given.
 */
export function formatInstant(ms: number, format: string, zone?: Intl.DateTimeFormat): string {
  if (format === 'unix') return String(Math.floor(ms / 1000));
  const offset = zone ? offsetIn(zone, ms) : 0;
  const local = new Date(ms + offset * 60_000); // the zone's wall clock, read with the UTC getters
  if (local.getUTCFullYear() < 0 || local.getUTCFullYear() > 9999) return ''; // the zone moved it past 0000-9999
  const fields: Record<string, string> = {
    YYYY: pad(local.getUTCFullYear(), 4),
    MM: pad(local.getUTCMonth() + 1),
    DD: pad(local.getUTCDate()),
    HH: pad(local.getUTCHours()),
    mm: pad(local.getUTCMinutes()),
    ss: pad(local.getUTCSeconds()),
    SSS: pad(local.getUTCMilliseconds(), 3),
  };
  if (format === 'iso') {
    const zoneText = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
    format = `YYYY-MM-DD[T]HH:mm:ss.SSS[${zoneText}]`;
  }
  return format.replace(TOKENS, (token: string, literal: string | undefined) => literal ?? fields[token] ?? token);
}
