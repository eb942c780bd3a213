import { basename } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DEFAULTS } from '../defaults';
import { serializeEvent, type SerializedEvent } from '../events/schema';
import type { EnqueueResult } from '../queue/producer';
import { parseCsvLine } from './csv';
import { fileIdentity } from './identity';
import { BatchPipeline } from './batches';
import type { CmrCounts } from './cmr-index';
import type { IngestListener } from './listener';
import { readWrittenLayout, type CdrLayout, type LayoutResult } from './layout';
import type { Checkpoint, DoneMark, FileLedger } from './ledger';
import { isBlank, readLines } from './line-reader';
import { mapRecord } from './map';
import type { QualitySource } from './quality';
import { moveAside } from './reject-file';

export type { IngestListener };

/** Counts for one file or a whole run. */
export interface Counts {
  /** Data lines read (header and type lines and blank lines excluded). */
  records: number;
  queued: number;
  /** Call ids that were already queued (re-ingestion, a second ingester, a resumed file). */
  duplicates: number;
  /** Malformed records and records that cannot become events. */
  rejected: number;
  /** Records that are not calls: other record types (cdrRecordType other than 1) and abandoned calls. */
  skipped: number;
  /** Of `skipped`: off-hook records with nothing dialled and no connect (CUCM's "CDR Log Calls With Zero Duration"). */
  abandoned: number;
  /** Call records whose event carries the quality of at least one leg (from a CMR row). */
  quality_joined: number;
}

/**
 * How a CMR file was used: `twin` read with its CDR file; `orphan` no CDR twin in the run, its
 * rows offered to every CDR file of the run; `late` its CDR twin was already done (ingested
 * without quality), so none of its rows can join; `left` not read (`--no-cmr`).
 */
export type CmrRole = 'twin' | 'orphan' | 'late' | 'left';

export type FileOutcome =
  | { kind: 'ingested'; counts: Counts; resumedFromLine: number | undefined; interrupted: boolean; /** the CMR twin read with it */ cmrFile?: string }
  | { kind: 'already-done' }
  | { kind: 'cmr'; role: CmrRole; counts: CmrCounts }
  /** Neither a CDR nor a CMR file (or a CMR file handed to ingestFile alone). */
  | { kind: 'not-cdr'; reason: string; movedTo: string | undefined };

export interface FileIngestOptions {
  /** Queues events; absent in a dry run. */
  enqueue?: (events: SerializedEvent[]) => Promise<EnqueueResult[]>;
  /** Done/progress state; absent in a dry run. */
  ledger?: FileLedger;
  policy?: string;
  /** Events per enqueue call. @defaultValue 1000 */
  batchSize?: number;
  /** Batches in flight at once, so parsing overlaps Redis round trips. @defaultValue 4 */
  inflight?: number;
  /** Test knob: wait this long before each batch (makes a crash mid-file easy to hit). @defaultValue 0 */
  batchDelayMs?: number;
  /**
   * Move a file that is not CDR to rejected/. Off for files named on the command line (the
   * user chose them; only what is found in a drop directory is tidied away). @defaultValue true
   */
  moveNotCdr?: boolean;
  /**
   * Read the file from its first record whatever the ledger says (`--force`): its done entry and
   * checkpoint are ignored, and the calls already queued come back as duplicates. For a file
   * changed where its identity does not look (identity.ts). @defaultValue false
   */
  force?: boolean;
  /** Stops reading new records; batches in flight finish and are checkpointed. */
  signal?: AbortSignal;
  listener?: IngestListener;
}

/** What one CDR file is read with, besides the run's options. */
export interface CdrFileExtras {
  /** The file's first two lines, when the caller already read them. */
  head?: LayoutResult;
  /** The CMR rows its records are joined with; absent: `quality` is null. */
  quality?: QualitySource;
  /** Name of the CMR twin read with it (recorded in its done entry). */
  cmrFile?: string;
  /** Other files marked done in the same MULTI as this one, asked for once every record is queued (its CMR twin). */
  alsoDone?: () => readonly DoneMark[];
}

export function zeroCounts(): Counts {
  return { records: 0, queued: 0, duplicates: 0, rejected: 0, skipped: 0, abandoned: 0, quality_joined: 0 };
}

/** Why a CMR file is not ingested on its own. */
const CMR_ALONE = 'CMR file (call quality records): it is read with its CDR file (ingestFiles), not on its own';

/**
 * Ingests one CDR file: streams its records into the queue in batches, checkpointing after each
 * batch so a crash resumes where it stopped, and marks the file done only once every record
 * is queued. A file that is neither CDR nor CMR is moved aside (not in a dry run); a CMR file
 * is left alone (it is read with its CDR twin, see ingest.ts); one still being written throws
 * IncompleteFileError.
 */
export async function ingestFile(path: string, options: FileIngestOptions, extras: CdrFileExtras = {}): Promise<FileOutcome> {
  const { enqueue, ledger, listener } = options;
  const head = extras.head ?? (await readWrittenLayout(path));
  if (!head.ok) return { kind: 'not-cdr', reason: head.reason, movedTo: await rejectFile(path, head.reason, options) };
  if (head.kind === 'cmr') return { kind: 'not-cdr', reason: CMR_ALONE, movedTo: undefined };
  const identity = await fileIdentity(path);
  if (ledger && !options.force && (await ledger.done(identity))) return { kind: 'already-done' };
  const saved = ledger && !options.force ? await ledger.checkpoint(identity) : undefined;
  const start: Checkpoint = saved ?? { line: 3, offset: head.dataOffset };
  // Written before the first batch: after a crash, its presence says "records past it may be in doubt".
  if (ledger && !saved) await ledger.saveCheckpoint(identity, start);
  listener?.advance?.(start.offset, 0);

  const counts = zeroCounts();
  const batches = new BatchPipeline(counts, { enqueue, ledger, identity, depth: options.inflight ?? 4, delayMs: options.batchDelayMs ?? 0 });
  let interrupted: boolean;
  try {
    interrupted = await readRecords(path, head.layout, start, counts, batches, options, extras.quality);
    await batches.finish();
  } catch (error) {
    await batches.settle();
    throw error;
  }
  if (!interrupted && ledger) await ledger.markDone(identity, { done_at: new Date().toISOString(), ...counts, cmr_file: extras.cmrFile }, extras.alsoDone?.() ?? []);
  return { kind: 'ingested', counts, resumedFromLine: saved?.line, interrupted, cmrFile: extras.cmrFile };
}

/** Moves a file that is neither CDR nor CMR aside, unless this is a dry run or the user named it. */
export async function rejectFile(path: string, reason: string, options: FileIngestOptions): Promise<string | undefined> {
  return options.enqueue && options.moveNotCdr !== false ? moveAside(path, reason) : undefined;
}

/** How often parsing lets the event loop read Redis replies (about 10 ms of parsing). */
const YIELD_EVERY_LINES = 64;

/**
 * Streams a file's records from `start` into batches of events. Returns true when stopped by
 * the signal (the batch being built is dropped: its records are read again on resume).
 */
async function readRecords(
  path: string,
  layout: CdrLayout,
  start: Checkpoint,
  counts: Counts,
  batches: BatchPipeline,
  options: FileIngestOptions,
  quality: QualitySource | undefined,
): Promise<boolean> {
  const { listener } = options;
  const batchSize = options.batchSize ?? DEFAULTS.cdrBatch;
  const file = basename(path);
  // Events wait here and in flight in their queue form: holding the mapped objects tripled GC time.
  let batch: SerializedEvent[] = [];
  let last = start;
  let bytesSeen = start.offset;
  let pendingBytes = 0;
  let pendingRecords = 0;
  for await (const line of readLines(path, { offset: start.offset, line: start.line })) {
    if (options.signal?.aborted) return true;
    // Lines of a chunk already read come without a turn of the event loop, so Redis replies
    // would wait for the whole 1 MiB chunk to be parsed, and each batch's next command with them.
    if (line.number % YIELD_EVERY_LINES === 0) await nextTurn();
    pendingBytes += line.next - bytesSeen;
    bytesSeen = line.next;
    last = { line: line.number + 1, offset: line.next };
    if (!line.tooLong && isBlank(line.text)) continue;
    counts.records += 1;
    pendingRecords += 1;
    const outcome = line.tooLong
      ? ({ ok: false, reason: 'line longer than 1 MiB' } as const)
      : line.text.includes('\0') // NUL bytes: a block damaged on disk (a crash), not call data
        ? ({ ok: false, reason: 'holds NUL bytes (damaged on disk?)' } as const)
        : parseCsvLine(line.text);
    const mapped = outcome.ok ? mapRecord(outcome.fields, layout, { file, line: line.number, policy: options.policy, quality }) : { kind: 'reject' as const, reason: outcome.reason };
    if (mapped.kind === 'event') {
      batch.push(serializeEvent(mapped.event));
      if (mapped.joined) counts.quality_joined += 1;
    } else if (mapped.kind === 'skip') {
      counts.skipped += 1;
      if (mapped.cause === 'abandoned') counts.abandoned += 1;
    } else {
      counts.rejected += 1;
      const tail = line.terminated ? '' : ' (last line has no line ending: file cut short?)';
      listener?.rejectedRecord?.(path, line.number, mapped.reason + tail);
    }
    if (batch.length >= batchSize) {
      listener?.advance?.(pendingBytes, pendingRecords);
      pendingBytes = pendingRecords = 0;
      await batches.send(batch, last);
      batch = [];
    }
  }
  if (batch.length > 0) await batches.send(batch, last);
  listener?.advance?.(pendingBytes, pendingRecords);
  return false;
}
