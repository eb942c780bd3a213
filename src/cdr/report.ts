import type { Logger } from 'pino';
import { isRedisUnavailable } from '../store/redis-errors';
import type { CmrRole, FileOutcome, IngestListener } from './ingest-file';
import type { RunListener, Summary } from './ingest';
import { printable } from '../util/terminal';
import { renderProgress } from './progress-bar';

/** Everything the CLI shows while ingesting. */
export interface Reporter extends IngestListener, RunListener {
  /** Total bytes of the files about to be read (one-shot runs; enables the ETA). */
  begin(totalBytes: number): void;
  finish(summary: Summary, dryRun: boolean): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Summary as a few human lines. */
export function formatSummary(s: Summary, dryRun: boolean): string {
  const secs = s.elapsed_ms / 1000;
  const rate = secs > 0 ? Math.round(s.records / secs) : 0;
  return [
    `${dryRun ? 'dry run: nothing was queued' : 'done'} in ${secs.toFixed(1)} s (${rate.toLocaleString('en-US')} records/s)`,
    `  files      ${s.files} CDR ingested, ${s.cmr_files} CMR, ${s.already_done} already done, ${s.rejected_files} neither (moved aside), ${s.unfinished} unfinished`,
    `  records    ${s.records}`,
    `  ${dryRun ? 'would queue' : 'queued     '} ${s.queued}`,
    `  duplicates ${s.duplicates}`,
    `  rejected   ${s.rejected}`,
    `  not calls  ${s.skipped} (${s.abandoned} abandoned: off hook, nothing dialled)`,
    `  quality    ${s.quality_joined} calls joined, ${s.cmr_unmatched} CMR rows unmatched`,
  ].join('\n');
}

/**
 * Why a file could not be finished, which says what happens next: `waiting` (it ends before its
 * header and type lines do: still being uploaded, left in place and read once complete), `redis`
 * (Redis down, not answering or refusing: the file resumes from its checkpoint once it
 * answers), `file` (the file or rejected/ could not be read, moved or written: tried again, but
 * someone may have to mend it), `error` (anything else).
 */
export type FailureCause = 'waiting' | 'redis' | 'file' | 'error';

export function failureCause(error: Error): FailureCause {
  if (error.name === 'IncompleteFileError') return 'waiting';
  if (isRedisUnavailable(error) || error.name === 'ReplyError' || error.name === 'RedisLostError') return 'redis';
  if (error.name === 'RejectedDirError' || /^E[A-Z]+$/.test(String((error as NodeJS.ErrnoException).code ?? ''))) return 'file';
  return 'error';
}

/** What a failure means for the file, by cause: the end of a terminal line and the message of a log line. */
const FAILURES: Record<FailureCause, { says: (error: Error) => string; log: string }> = {
  waiting: { says: (e) => `${e.message}; left in place and read once complete`, log: 'cdr file not complete yet; left in place and read once complete' },
  redis: { says: (e) => `Redis unavailable (${e.message}); it resumes from its checkpoint when tried again`, log: 'cdr file failed: Redis unavailable; it resumes from its checkpoint when tried again' },
  file: { says: (e) => `${e.message}; tried again later, once that is mended`, log: 'cdr file failed: the file or rejected/ could not be read, moved or written; tried again later' },
  error: { says: (e) => `${e.message}; tried again later`, log: 'cdr file failed; tried again later' },
};

const CMR_ROLES: Record<CmrRole, string> = {
  twin: 'read with its CDR file',
  orphan: 'no CDR twin, joined by key',
  late: 'its CDR file went in without it',
  left: 'left alone (--no-cmr)',
};

function describe(path: string, outcome: FileOutcome): string {
  if (outcome.kind === 'already-done') return `${path}: already done, skipped`;
  if (outcome.kind === 'not-cdr') return `${path}: not a CDR or CMR file (${outcome.reason})${outcome.movedTo ? `, moved to ${outcome.movedTo}` : ''}`;
  if (outcome.kind === 'cmr') {
    const c = outcome.counts;
    const rows = outcome.role === 'left' ? '' : `: ${c.records} rows, ${c.joined} joined, ${c.unmatched} unmatched, ${c.rejected} rejected`;
    return `${path}: CMR file ${CMR_ROLES[outcome.role]}${rows}`;
  }
  const c = outcome.counts;
  const resumed = outcome.resumedFromLine ? ` (resumed at line ${outcome.resumedFromLine})` : '';
  const state = outcome.interrupted ? 'interrupted' : 'done';
  return `${path}: ${state}${resumed}: ${c.records} records, ${c.queued} queued, ${c.duplicates} duplicates, ${c.rejected} rejected, ${c.quality_joined} with quality`;
}

/** For a terminal: a progress bar on `out` redrawn at most every 100 ms, human messages, a summary table. */
export function terminalReporter(out: NodeJS.WritableStream, now: () => number = Date.now): Reporter {
  let total = 0;
  let bytes = 0;
  let records = 0;
  let started = now();
  let drawnAt = 0;
  let barShown = false;
  const clear = () => {
    if (barShown) out.write('\r\x1b[K');
    barShown = false;
  };
  const draw = (force = false) => {
    if (total === 0 || (!force && now() - drawnAt < 100)) return;
    drawnAt = now();
    out.write(`\r\x1b[K${renderProgress({ bytes, totalBytes: total, records, elapsedMs: now() - started })}`);
    barShown = true;
  };
  // Every line names a file, and anyone who can drop one names it: escapes in a name would move
  // the cursor, recolour or rewrite what is shown (a fake "done" over a failure).
  const say = (line: string) => {
    clear();
    out.write(`${printable(line)}\n`);
    draw(true);
  };
  return {
    begin(totalBytes) {
      total = totalBytes;
      started = now();
      draw(true);
    },
    advance(b, r) {
      bytes += b;
      records += r;
      draw();
    },
    rejectedRecord: (file, line, reason) => say(`${file}:${line}: rejected: ${reason}`),
    fileEnd: (path, outcome) => say(describe(path, outcome)),
    fileError(path, error) {
      const cause = failureCause(error);
      say(`${path}: ${cause === 'waiting' ? 'waiting' : 'failed'}: ${FAILURES[cause].says(error)}`);
    },
    info: (message) => say(message),
    warn: (message) => say(message),
    finish(summary, dryRun) {
      if (total > 0) draw(true);
      clear();
      out.write(`${formatSummary(summary, dryRun)}\n`);
    },
  };
}

/** Off a terminal: one JSON log line per file, per rejected record and for the summary. */
export function logReporter(logger: Logger): Reporter {
  return {
    begin: (totalBytes) => logger.debug({ total_bytes: totalBytes }, 'cdr ingest starting'),
    rejectedRecord: (file, line, reason) => logger.warn({ file, line, reason }, 'cdr record rejected'),
    fileEnd(path, outcome) {
      if (outcome.kind === 'not-cdr') logger.warn({ file: path, reason: outcome.reason, moved_to: outcome.movedTo ?? null }, 'not a CDR file');
      else if (outcome.kind === 'already-done') logger.info({ file: path }, 'cdr file already done');
      else if (outcome.kind === 'cmr') logger.info({ file: path, role: outcome.role, ...outcome.counts }, outcome.role === 'left' ? 'cmr file left alone' : 'cmr file done');
      else logger.info({ file: path, ...outcome.counts, cmr_file: outcome.cmrFile ?? null, resumed_from_line: outcome.resumedFromLine ?? null, interrupted: outcome.interrupted }, 'cdr file ingested');
    },
    fileError(path, error) {
      const cause = failureCause(error);
      logger[cause === 'waiting' ? 'warn' : 'error']({ file: path, cause, err: error.message }, FAILURES[cause].log);
    },
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    finish: (summary, dryRun) => logger.info({ ...summary, dry_run: dryRun }, 'cdr ingest finished'),
  };
}
