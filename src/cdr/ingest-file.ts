import { basename } from 'node:path';
import { DEFAULTS } from '../defaults';
import { serializeEvent, type SerializedEvent } from '../events/schema';
import type { EnqueueResult } from '../queue/producer';
import { parseCsvLine } from './csv';
import { fileIdentity } from './identity';
import { BatchPipeline } from './batches';
import { readLayout, type CdrLayout } from './layout';
import type { Checkpoint, FileLedger } from './ledger';
import { readLines } from './line-reader';
import { mapRecord } from './map';
import { moveAside } from './reject-file';

/** Counts for one file or a whole run. */
export interface Counts {
  /** Data lines read (header and type lines and blank lines excluded). */
  records: number;
  queued: number;
  /** Call ids that were already queued (re-ingestion, a second ingester, a resumed file). */
  duplicates: number;
  /** Malformed records and records that cannot become events. */
  rejected: number;
  /** Records that are not calls (cdrRecordType other than 1). */
  skipped: number;
}

export type FileOutcome =
  | { kind: 'ingested'; counts: Counts; resumedFromLine: number | undefined; interrupted: boolean }
  | { kind: 'already-done' }
  | { kind: 'not-cdr'; reason: string; movedTo: string | undefined };

/** Hooks the ingester calls as it goes; the CLI draws a progress bar or writes logs from them. */
export interface IngestListener {
  /** `bytes` read since the last call (including skipped lines), `records` data lines among them. */
  advance?(bytes: number, records: number): void;
  rejectedRecord?(file: string, line: number, reason: string): void;
}

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
  /** Stops reading new records; batches in flight finish and are checkpointed. */
  signal?: AbortSignal;
  listener?: IngestListener;
}

export function zeroCounts(): Counts {
  return { records: 0, queued: 0, duplicates: 0, rejected: 0, skipped: 0 };
}

/**
 * Ingests one file: streams its records into the queue in batches, checkpointing after each
 * batch so a crash resumes where it stopped, and marks the file done only once every record
 * is queued. A file that is not CDR is moved aside (not in a dry run).
 */
export async function ingestFile(path: string, options: FileIngestOptions): Promise<FileOutcome> {
  const { enqueue, ledger, listener } = options;
  const head = await readLayout(path);
  if (!head.ok) {
    const movedTo = enqueue && options.moveNotCdr !== false ? await moveAside(path, head.reason) : undefined;
    return { kind: 'not-cdr', reason: head.reason, movedTo };
  }
  const identity = await fileIdentity(path);
  if (ledger && (await ledger.done(identity))) return { kind: 'already-done' };
  const saved = ledger ? await ledger.checkpoint(identity) : undefined;
  const start: Checkpoint = saved ?? { line: 3, offset: head.dataOffset };
  // Written before the first batch: after a crash, its presence says "records past it may be in doubt".
  if (ledger && !saved) await ledger.saveCheckpoint(identity, start);
  listener?.advance?.(start.offset, 0);

  const counts = zeroCounts();
  const batches = new BatchPipeline(counts, { enqueue, ledger, identity, depth: options.inflight ?? 4, delayMs: options.batchDelayMs ?? 0 });
  let interrupted: boolean;
  try {
    interrupted = await readRecords(path, head.layout, start, counts, batches, options);
    await batches.finish();
  } catch (error) {
    await batches.settle();
    throw error;
  }
  if (!interrupted && ledger) await ledger.markDone(identity, { done_at: new Date().toISOString(), ...counts });
  return { kind: 'ingested', counts, resumedFromLine: saved?.line, interrupted };
}

/**
 * Streams a file's records from `start` into batches of events. Returns true when stopped by
 * the signal (the batch being built is dropped: its records are read again on resume).
 */
async function readRecords(path: string, layout: CdrLayout, start: Checkpoint, counts: Counts, batches: BatchPipeline, options: FileIngestOptions): Promise<boolean> {
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
    pendingBytes += line.next - bytesSeen;
    bytesSeen = line.next;
    last = { line: line.number + 1, offset: line.next };
    if (line.text === '' && !line.tooLong) continue;
    counts.records += 1;
    pendingRecords += 1;
    const outcome = line.tooLong ? ({ ok: false, reason: 'line longer than 1 MiB' } as const) : parseCsvLine(line.text);
    const mapped = outcome.ok ? mapRecord(outcome.fields, layout, { file, line: line.number, policy: options.policy }) : { kind: 'reject' as const, reason: outcome.reason };
    if (mapped.kind === 'event') batch.push(serializeEvent(mapped.event));
    else if (mapped.kind === 'skip') counts.skipped += 1;
    else {
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
