import { parseCsvLine } from './csv';
import type { CdrLayout } from './layout';
import type { IngestListener } from './listener';
import { isBlank, readLines } from './line-reader';
import { legQuality, type CallQuality, type LegQuality, type QualitySource } from './quality';
import { quote } from '../util/quote';

/** What one CMR file came to. */
export interface CmrCounts {
  /** Data lines read (header, type and blank lines excluded). */
  records: number;
  /** Quality rows (cdrRecordType 2) joined to at least one call record. */
  joined: number;
  /** Quality rows that joined no call record (including a second row for a leg that already had one). */
  unmatched: number;
  /** Malformed rows. */
  rejected: number;
  /** Rows of another record type. */
  skipped: number;
}

/** Bytes of one block of a file's rows; no row is longer (the line reader reports lines over 1 MiB as too long). */
const BLOCK_BYTES = 1 << 20;

/**
 * One CMR file whose rows are in an index. Its rows' text is kept back to back in 1 MiB
 * blocks outside the V8 heap: about the file's size, nothing for the garbage collector to
 * trace, and all of it freed with the file. Held as V8 strings, the rows of a 318 MB CMR file
 * took the benchmark's dry run to a peak RSS of 1.2 GB (233 MB without a CMR file).
 */
export class CmrFile {
  readonly counts: CmrCounts = { records: 0, joined: 0, unmatched: 0, rejected: 0, skipped: 0 };
  private readonly blocks: Buffer[] = [];
  private used = BLOCK_BYTES;

  constructor(
    readonly path: string,
    readonly layout: CdrLayout,
  ) {}

  /** Keeps a row's text; returns where it is (block × BLOCK_BYTES + offset) and its length in bytes. */
  keep(text: string): { at: number; bytes: number } {
    const bytes = Buffer.byteLength(text);
    if (this.used + bytes > BLOCK_BYTES) {
      this.blocks.push(Buffer.allocUnsafeSlow(BLOCK_BYTES));
      this.used = 0;
    }
    const block = this.blocks.length - 1;
    this.blocks[block]?.write(text, this.used, 'utf8');
    const at = block * BLOCK_BYTES + this.used;
    this.used += bytes;
    return { at, bytes };
  }

  /** A row's text back. */
  text(at: number, bytes: number): string {
    const offset = at % BLOCK_BYTES;
    return this.blocks[(at - offset) / BLOCK_BYTES]?.toString('utf8', offset, offset + bytes) ?? '';
  }
}

interface Row {
  readonly file: CmrFile;
  /** Where the row's text is kept (CmrFile.keep); it is parsed again when joined. */
  readonly at: number;
  readonly bytes: number;
  joined: boolean;
}

const WHOLE = /^\d{1,10}$/;

/**
 * CMR rows by the leg they measured: `(globalCallID_callManagerId, globalCallID_callId,
 * callIdentifier)`. Rows are kept as their text (see CmrFile) and built into a leg's quality
 * only when a call record asks for them, so memory is about the size of the CMR files held
 * plus about 200 bytes a row, and a CDR file is still streamed. One row may join several call
 * records (a transferred call's legs appear in more than one); which rows joined nothing is
 * counted when their file is released.
 */
export class CmrIndex {
  private readonly rows = new Map<string, Row>();

  /** Rows held. */
  get size(): number {
    return this.rows.size;
  }

  /**
   * Reads a CMR file's rows into the index. Malformed rows are reported through the listener
   * and counted as rejected. Returns undefined when `signal` stopped it (its rows stay until released).
   */
  async add(path: string, head: { layout: CdrLayout; dataOffset: number }, options: { listener?: IngestListener; signal?: AbortSignal } = {}): Promise<CmrFile | undefined> {
    const { layout } = head;
    const file = new CmrFile(path, layout);
    const at = (name: string) => layout.index.get(name) ?? -1;
    const type = at('cdrRecordType');
    const cmId = at('globalCallID_callManagerId');
    const callId = at('globalCallID_callId');
    const leg = at('callIdentifier');
    let bytesSeen = head.dataOffset;
    options.listener?.advance?.(head.dataOffset, 0);
    const reject = (line: number, reason: string) => {
      file.counts.rejected += 1;
      options.listener?.rejectedRecord?.(path, line, reason);
    };
    for await (const line of readLines(path, { offset: head.dataOffset, line: 3 })) {
      if (options.signal?.aborted) return undefined;
      options.listener?.advance?.(line.next - bytesSeen, 0);
      bytesSeen = line.next;
      if (!line.tooLong && isBlank(line.text)) continue;
      file.counts.records += 1;
      if (line.tooLong) {
        reject(line.number, 'line longer than 1 MiB');
        continue;
      }
      const csv = parseCsvLine(line.text);
      if (!csv.ok) {
        reject(line.number, csv.reason + (line.terminated ? '' : ' (last line has no line ending: file cut short?)'));
        continue;
      }
      const fields = csv.fields;
      if (fields.length !== layout.names.length) {
        reject(line.number, `has ${fields.length} fields; the header has ${layout.names.length} (truncated or damaged line)`);
        continue;
      }
      const recordType = fields[type] ?? '';
      if (recordType !== '2') {
        if (/^\d+$/.test(recordType)) file.counts.skipped += 1;
        else reject(line.number, `cdrRecordType ${quote(recordType)} is not a number`);
        continue;
      }
      const parts = [fields[cmId] ?? '', fields[callId] ?? '', fields[leg] ?? ''];
      if (!parts.every((p) => WHOLE.test(p))) {
        reject(line.number, 'globalCallID_callManagerId, globalCallID_callId and callIdentifier must be whole numbers');
        continue;
      }
      const key = parts.join('-');
      if (this.rows.has(key)) file.counts.unmatched += 1; // the first row of a leg is the one joined
      else this.rows.set(key, { file, ...file.keep(line.text), joined: false });
    }
    return file;
  }

  /** The quality of one leg, or undefined when no row measured it. */
  leg(cmId: string, callId: string, legId: string): LegQuality | undefined {
    const row = this.rows.get(`${cmId}-${callId}-${legId}`);
    if (!row) return undefined;
    const csv = parseCsvLine(row.file.text(row.at, row.bytes));
    if (!csv.ok) return undefined; // not reached: the row parsed when it was added
    row.joined = true;
    return legQuality(csv.fields, row.file.layout);
  }

  /**
   * Adds up which rows of `files` joined a call (`joined`) and which did not (`unmatched`),
   * and removes their rows from the index. One pass over the index for any number of files.
   */
  release(files: ReadonlySet<CmrFile>): void {
    if (files.size === 0) return;
    for (const [key, row] of this.rows) {
      if (!files.has(row.file)) continue;
      if (row.joined) row.file.counts.joined += 1;
      else row.file.counts.unmatched += 1;
      this.rows.delete(key);
    }
  }
}

/**
 * What a CDR file's records are joined with: the CMR twin of its interval (`twin`), then the
 * run's CMR files that have no CDR twin (`orphans`). With a twin, a call's quality is always an
 * object (a leg the twin lacks is null: its device wrote no CMR); without one, it is null unless
 * an orphan row has one of its legs.
 */
export function joinSource(twin: CmrIndex | undefined, orphans: CmrIndex | undefined): QualitySource {
  const leg = (cmId: string, callId: string, legId: string) => twin?.leg(cmId, callId, legId) ?? orphans?.leg(cmId, callId, legId) ?? null;
  return {
    call(cmId, callId, origLeg, destLeg): CallQuality | null {
      const orig = leg(cmId, callId, origLeg);
      const dest = leg(cmId, callId, destLeg);
      return twin || orig || dest ? { orig, dest } : null;
    },
  };
}
