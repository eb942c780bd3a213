import type { CallRecord } from '../model/call';

/** The columns of a CSV export, in order: one row per app result (one row with empty app columns for a call without any). */
export const CSV_COLUMNS = [
  'call_id', 'policy', 'status', 'calling_number', 'called_number', 'created_at', 'finished_at',
  'app', 'app_status', 'http_status', 'attempts', 'duration_ms', 'error_code', 'error_message', 'message',
] as const;

/**
 * A cell a spreadsheet would run as a formula: one starting with `=`, `@`, a tab or a CR, or with
 * `+`/`-` and not a plain number (`+15550100100`, `-5`). A formatted phone number is one too:
 * `+1 (555) 010-0100` is arithmetic to a spreadsheet, as are `+1-1` and `-(1)-(2)`.
 */
const FORMULA = /^[=@\t\r]|^[+-](?!\d+(\.\d+)?$)/;

/**
 * A CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled. Call
 * data is untrusted: a caller named `=HYPERLINK(...)` gets a leading `'`, so a spreadsheet shows
 * it as text instead of running it.
 */
function field(value: unknown, show: (text: string) => string): string {
  const raw = show(value === null || value === undefined ? '' : String(value));
  const text = FORMULA.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

const exact = (text: string) => text;

/**
 * A call's CSV lines. `show` rewrites each cell's text first: `printable` for a terminal, where
 * call data must not reach as control sequences; exact (the default) for a file or a pipe.
 */
export function csvRows(call: CallRecord, show: (text: string) => string = exact): string {
  const cell = (value: unknown) => field(value, show);
  const head = [call.call_id, call.policy, call.status, call.event.calling_number, call.event.called_number, call.created_at, call.finished_at];
  const apps = Object.entries(call.app_data);
  if (apps.length === 0) return `${[...head, '', '', '', '', '', '', '', ''].map(cell).join(',')}\r\n`;
  return apps
    .map(([slug, r]) => `${[...head, slug, r.status, r.http_status, r.attempts, r.duration_ms, r.error?.code, r.error?.message, r.message].map(cell).join(',')}\r\n`)
    .join('');
}
