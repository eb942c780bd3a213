const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration: a number of milliseconds, or a string such as `250ms`, `5s`, `2m`, `1h`, `7d`
 * (a bare numeric string is milliseconds). Returns undefined when the value is not a duration.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  // Trimmed first: blanks on both sides of an optional unit made the pattern backtrack
  // quadratically (`1` + 16,000 spaces + `x` in a query took 0.4 s of the event loop).
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(value.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? 'ms').toLowerCase();
  return Math.round(Number(match[1]) * (UNIT_MS[unit] ?? 1));
}

/** 90061000 → `1d 1h 1m 1s`; 250 → `250ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, seconds] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= seconds) {
      parts.push(`${Math.floor(rest / seconds)}${unit}`);
      rest %= seconds;
    }
  }
  return parts.join(' ');
}

/**
 * A duration back from now, which must carry its unit (`30m`, `1h`, `7d`): ms, or undefined. A
 * number alone is no such bound: read as milliseconds, `until=<epoch ms>` was the present and
 * `since=20261201` 5.6 hours ago, each answering calls without a word. (Settings and policy
 * durations still take a number as ms.)
 */
export function parseAgo(value: string): number | undefined {
  return /[a-z]$/i.test(value.trim()) ? parseDuration(value) : undefined;
}

/** A time bound as given: a point in time (epoch ms), or a duration back from a `now` to come. */
export type TimeBound = { at: number } | { ago: number };

/**
 * A point in time given as ISO 8601 (`2026-11-29T10:00:00Z`) or as a duration back from now
 * (`1h`, `7d`, with its unit: parseAgo), or undefined when it is neither (timeBoundProblem says
 * why). The duration is kept as such, for resolveTimeBound with the clock the bound is compared
 * with (Redis's, for the indexes).
 */
export function readTimeBound(value: string): TimeBound | undefined {
  const ago = /^\s*\d/.test(value) && !/^\d{4}-/.test(value) ? parseAgo(value) : undefined;
  if (ago !== undefined) return { ago };
  if (!startsWithCalendarDate(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : { at };
}

/** A time bound's epoch ms, a duration counted back from `now`. */
export function resolveTimeBound(bound: TimeBound, now: number): number {
  return 'at' in bound ? bound.at : now - bound.ago;
}

/** readTimeBound resolved at `now`: epoch ms, or undefined. */
export function parseTimeBound(value: string, now = Date.now()): number | undefined {
  const bound = readTimeBound(value);
  return bound && resolveTimeBound(bound, now);
}

/**
 * Whether `value` starts with a date that exists (`YYYY-MM-DD`): Date.parse rolls 2026-02-30
 * over into March, and a day that does not exist is not a time.
 */
export function startsWithCalendarDate(value: string): boolean {
  const date = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!date) return false;
  const [year, month, day] = date.slice(1).map(Number) as [number, number, number];
  return month >= 1 && month <= 12 && new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
}

/** Why `value` is not a time bound (parseTimeBound answered undefined), for a message after the parameter's name. */
export function timeBoundProblem(value: string): string {
  if (/^\d+(\.\d+)?$/.test(value.trim())) {
    return `"${value}" is a number alone: give a duration back from now its unit (30m, 1h, 7d), or a time as ISO 8601 (2026-11-29 or 2026-11-29T10:00:00Z)`;
  }
  return `"${value}" is not an ISO 8601 time or a duration such as 1h or 7d`;
}
