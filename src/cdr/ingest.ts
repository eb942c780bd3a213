import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { CmrIndex, joinSource, type CmrCounts, type CmrFile } from './cmr-index';
import { fileIdentity } from './identity';
import { ingestFile, rejectFile, zeroCounts, type Counts, type FileIngestOptions, type FileOutcome } from './ingest-file';
import { cucmKind, planRun } from './intervals';
import { IncompleteFileError, readLayout, readWrittenLayout, type LayoutResult } from './layout';
import type { CmrDoneEntry } from './ledger';
import { cmrFinder, partnersOnDisk } from './partners';

/** Totals of a run, as printed in the summary. */
export interface Summary extends Counts {
  /** CDR files read to the end in this run. */
  files: number;
  /** Files skipped because they were already done. */
  already_done: number;
  /** CMR files used in this run (joined, counted, or left alone with `--no-cmr`). */
  cmr_files: number;
  /** CMR quality rows that joined no call record of the run. */
  cmr_unmatched: number;
  /** Files that were neither CDR nor CMR (moved aside). */
  rejected_files: number;
  /** Files that could not be finished (an error, interrupted, or still being written); tried again on the next run. */
  unfinished: number;
  elapsed_ms: number;
}

export interface RunListener {
  fileStart?(path: string): void;
  fileEnd?(path: string, outcome: FileOutcome): void;
  fileError?(path: string, error: Error): void;
}

export interface RunOptions extends FileIngestOptions {
  run?: RunListener;
  /** Files never moved aside (named on the command line). */
  named?: ReadonlySet<string>;
  /** Join CMR rows to the calls; false (`--no-cmr`) leaves CMR files unread and `quality` null. @defaultValue true */
  cmr?: boolean;
}

/**
 * How long `--watch` holds the rows of a CMR file without a CDR twin for CDR files that arrive
 * later (a CDR file of another minute or name, an interval cut differently), in ms. Then the
 * rows that joined nothing are counted and the file is marked done; memory stays bounded by
 * what arrives in this time.
 */
export const ORPHAN_HOLD_MS = 5 * 60_000;

export function emptySummary(): Summary {
  return { files: 0, already_done: 0, cmr_files: 0, cmr_unmatched: 0, rejected_files: 0, unfinished: 0, ...zeroCounts(), elapsed_ms: 0 };
}

/** Sizes of the files, for a progress bar's total. */
export async function totalBytes(files: readonly string[]): Promise<number> {
  const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.size, () => 0)));
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * Ingests files one after another and adds up the summary. CDR and CMR files of one interval
 * (intervals.ts) are read together (CMR first), the CMR twin of a CDR file also when only the
 * CDR file was named; CMR files without a CDR twin are read before everything else and their
 * rows offered to every CDR file of the run. A file that fails (Redis gone, file vanished) is
 * reported and counted as unfinished; the others still go in.
 */
export async function ingestFiles(files: readonly string[], options: RunOptions, now: () => number = Date.now): Promise<Summary> {
  const plan = planRun(files);
  const orphans = [...plan.orphans];
  const steps: { path: string; twin?: string }[] = [];
  const named = new Set(options.named);
  const findCmr = cmrFinder(new Set(files)); // the CMR files among `files` are in the plan already
  for (const step of plan.steps) {
    const kind = cucmKind(step.path);
    // A file not named as CUCM names them is a CMR file when its header says so.
    const head = kind ? undefined : await readLayout(step.path).catch(() => undefined);
    if (head?.ok && head.kind === 'cmr') {
      orphans.push(step.path);
      continue;
    }
    const twin = kind === 'cdr' && !step.twin && options.cmr !== false ? await findCmr(step.path) : undefined;
    if (twin) {
      steps.push({ path: step.path, twin });
      if (named.has(step.path)) named.add(twin); // found beside a named file: reported, never moved
    } else steps.push(step);
  }
  const run = new IngestRun({ ...options, named }, now);
  for (const path of orphans) await run.guarded(path, () => run.orphan(path));
  for (const step of steps) await run.guarded(step.path, () => run.file(step.path, step.twin));
  await run.releaseOrphans({ mark: run.unfinished === 0 && !options.signal?.aborted });
  return run.finish();
}

interface Held {
  file: CmrFile;
  identity: string | undefined;
  /** When it was read (run clock). */
  since: number;
}

/**
 * One run of the ingester (a one-shot command, or a watcher's lifetime): ingests files as they
 * are handed over, holds the rows of CMR files without a CDR twin for the CDR files that
 * follow, and keeps the summary. What "done" means for a CMR file: with a twin, it is marked
 * done in the same MULTI as the twin, once every record of the twin is queued; without one, when
 * it is released (end of run, or after `--watch` held it long enough), with the rows that
 * joined nothing counted as unmatched.
 */
export class IngestRun {
  readonly summary = emptySummary();
  private readonly orphans = new CmrIndex();
  private readonly held = new Map<string, Held>();
  /**
   * Files whose last attempt failed: unfinished when the run finishes, unless a later attempt
   * (--watch tries them again) finishes them first.
   */
  private readonly failing = new Set<string>();
  private readonly started: number;

  constructor(
    private readonly options: RunOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /**
   * Ingests one file, whatever it is (by its header): a CDR file with its CMR twin `twin`
   * (read first), a CMR file without one (held as an orphan), or a file that is neither (moved
   * aside). A stop (the signal) counts it as unfinished; a failure (Redis gone, the file still
   * being written: IncompleteFileError) is thrown.
   */
  async file(path: string, twin?: string): Promise<void> {
    if (this.options.signal?.aborted) {
      this.summary.unfinished += twin ? 2 : 1;
      return;
    }
    this.options.run?.fileStart?.(path);
    const head = await readWrittenLayout(path).catch((error: Error) => {
      if (twin && error instanceof IncompleteFileError) this.failed(twin, new IncompleteFileError(`waits for its CDR file ${basename(path)}, still being written`));
      throw error;
    });
    if (!head.ok) {
      this.end(path, { kind: 'not-cdr', reason: head.reason, movedTo: await rejectFile(path, head.reason, this.moveOptions(path)) });
      if (twin) await this.orphan(twin);
    } else if (head.kind === 'cmr') {
      await this.orphan(path, head);
      if (twin) await this.orphan(twin);
    } else {
      await this.cdrFile(path, head, twin);
    }
  }

  /**
   * Reads a CMR file that has no CDR twin in the run and holds its rows for the CDR files that
   * follow (released by `releaseOrphans`). One whose CDR file is already done is `late`: none of
   * its rows can join, so it is counted and marked done at once. `cdrDone`: whether its CDR file
   * is done, when the caller knows; else its directory is looked at.
   */
  async orphan(path: string, knownHead?: LayoutResult, cdrDone?: boolean): Promise<void> {
    if (this.options.signal?.aborted) {
      this.summary.unfinished += 1;
      return;
    }
    const head = knownHead ?? (await readWrittenLayout(path));
    if (!head.ok) {
      this.end(path, { kind: 'not-cdr', reason: head.reason, movedTo: await rejectFile(path, head.reason, this.moveOptions(path)) });
      return;
    }
    if (head.kind === 'cdr') {
      await this.cdrFile(path, head, undefined);
      return;
    }
    if (this.options.cmr === false) {
      this.end(path, { kind: 'cmr', role: 'left', counts: zeroCmrCounts() });
      return;
    }
    if (this.held.has(path)) return;
    const { ledger } = this.options;
    const identity = ledger ? await fileIdentity(path) : undefined;
    if (ledger && identity && !this.options.force && (await ledger.done(identity))) {
      this.end(path, { kind: 'already-done' });
      return;
    }
    if (ledger && (cdrDone ?? (await this.cdrFileDone(path)))) {
      await this.consumeLate(path, head, identity);
      return;
    }
    const file = await this.orphans.add(path, head, this.options);
    if (!file) {
      this.summary.unfinished += 1;
      return;
    }
    this.held.set(path, { file, identity, since: this.now() });
  }

  /** Runs one step of a one-shot run: a failure is reported and counted as unfinished, and the run goes on. */
  async guarded(path: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      this.failed(path, error as Error);
    }
  }

  /**
   * Runs one step for a watcher: a failure is remembered (unfinished if no later attempt
   * finishes the file) and thrown on, for the watcher to report and try the file again later.
   */
  async attempt(path: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
      this.failing.delete(path);
    } catch (error) {
      this.failing.add(path);
      throw error;
    }
  }

  /** Files not finished so far: interrupted, or whose last attempt failed. */
  get unfinished(): number {
    return this.summary.unfinished + this.failing.size;
  }

  /**
   * Releases the orphans read before `before` (all when absent): counts which of their rows
   * joined a call, reports them and, with `mark`, marks them done.
   */
  async releaseOrphans(options: { before?: number; mark: boolean }): Promise<void> {
    const due = [...this.held].filter(([, h]) => options.before === undefined || h.since < options.before);
    if (due.length === 0) return;
    this.orphans.release(new Set(due.map(([, h]) => h.file)));
    for (const [path, h] of due) {
      this.held.delete(path);
      try {
        if (options.mark && h.identity) await this.options.ledger?.markDone(h.identity, cmrDoneEntry(h.file.counts));
        this.end(path, { kind: 'cmr', role: 'orphan', counts: h.file.counts });
      } catch (error) {
        this.failed(path, error as Error);
      }
    }
  }

  /** The summary with the time taken so far, the files still failing counted as unfinished. */
  finish(): Summary {
    return { ...this.summary, unfinished: this.unfinished, elapsed_ms: this.now() - this.started };
  }

  private async cdrFile(path: string, head: LayoutResult & { ok: true }, twin: string | undefined): Promise<void> {
    const { ledger } = this.options;
    const orphans = this.held.size > 0 ? this.orphans : undefined;
    if (!twin || this.options.cmr === false) {
      const outcome = await ingestFile(path, this.moveOptions(path), { head, quality: orphans ? joinSource(undefined, orphans) : undefined });
      this.end(path, outcome);
      if (twin) await this.orphan(twin); // --no-cmr: reported as left alone
      return;
    }
    const identity = ledger ? await fileIdentity(path) : undefined;
    if (ledger && identity && !this.options.force && (await ledger.done(identity))) {
      this.end(path, { kind: 'already-done' });
      await this.orphan(twin, undefined, true); // done already, or late: its CDR twin went in without it
      return;
    }
    const twinHead = await readLayout(twin);
    if (!twinHead.ok && twinHead.incomplete) {
      // Left for later, as any file still being written; the CDR file does not wait for it
      // (--watch: nothing waits for good), so its rows will come as a late CMR file.
      this.end(path, await ingestFile(path, this.moveOptions(path), { head, quality: orphans ? joinSource(undefined, orphans) : undefined }));
      this.failed(twin, new IncompleteFileError(twinHead.reason));
      return;
    }
    if (!twinHead.ok || twinHead.kind !== 'cmr') {
      // Named as a CMR file but it is not one: the CDR file goes in alone, the twin on its own.
      this.end(path, await ingestFile(path, this.moveOptions(path), { head, quality: orphans ? joinSource(undefined, orphans) : undefined }));
      await this.file(twin);
      return;
    }
    this.dropHeld(twin); // held as an orphan before its CDR file arrived (--watch): read again as the twin
    const twinIndex = new CmrIndex();
    const cmr = await twinIndex.add(twin, twinHead, this.options);
    if (!cmr) {
      this.summary.unfinished += 2;
      return;
    }
    const twinIdentity = ledger ? await fileIdentity(twin) : undefined;
    const release = () => twinIndex.release(new Set([cmr]));
    const outcome = await ingestFile(path, this.moveOptions(path), {
      head,
      quality: joinSource(twinIndex, orphans),
      cmrFile: basename(twin),
      alsoDone: () => {
        release();
        return twinIdentity ? [{ identity: twinIdentity, entry: cmrDoneEntry(cmr.counts) }] : [];
      },
    });
    this.end(path, outcome);
    if (outcome.kind !== 'ingested') {
      await this.orphan(twin, undefined, true); // another ingester finished the CDR file first: late or done
      return;
    }
    if (outcome.interrupted) {
      this.summary.unfinished += 1; // the twin is read again when its CDR file resumes
      return;
    }
    release(); // a dry run has no ledger to ask for alsoDone
    this.end(twin, { kind: 'cmr', role: 'twin', counts: cmr.counts });
  }

  /** Counts a CMR file whose CDR twin went in without it, and marks it done. */
  private async consumeLate(path: string, head: LayoutResult & { ok: true }, identity: string | undefined): Promise<void> {
    const index = new CmrIndex();
    const file = await index.add(path, head, this.options);
    if (!file) {
      this.summary.unfinished += 1;
      return;
    }
    index.release(new Set([file]));
    if (identity) await this.options.ledger?.markDone(identity, cmrDoneEntry(file.counts));
    this.end(path, { kind: 'cmr', role: 'late', counts: file.counts });
  }

  /** True when a CDR file of a CMR file's interval is in its directory and done. */
  private async cdrFileDone(path: string): Promise<boolean> {
    const { ledger } = this.options;
    if (!ledger) return false;
    for (const cdr of await partnersOnDisk(path)) {
      const identity = await fileIdentity(cdr).catch(() => undefined); // gone since the listing
      if (identity && (await ledger.done(identity))) return true;
    }
    return false;
  }

  private dropHeld(path: string): void {
    const h = this.held.get(path);
    if (!h) return;
    this.orphans.release(new Set([h.file]));
    this.held.delete(path);
  }

  private moveOptions(path: string): FileIngestOptions {
    return { ...this.options, moveNotCdr: this.options.moveNotCdr !== false && !this.options.named?.has(path) };
  }

  private failed(path: string, error: Error): void {
    this.failing.add(path);
    this.options.run?.fileError?.(path, error);
  }

  private end(path: string, outcome: FileOutcome): void {
    this.failing.delete(path);
    addOutcome(this.summary, outcome);
    this.options.run?.fileEnd?.(path, outcome);
  }
}

function zeroCmrCounts(): CmrCounts {
  return { records: 0, joined: 0, unmatched: 0, rejected: 0, skipped: 0 };
}

function cmrDoneEntry(counts: CmrCounts): CmrDoneEntry {
  return { done_at: new Date().toISOString(), kind: 'cmr', ...counts };
}

/** Adds one file's outcome to the summary. */
export function addOutcome(summary: Summary, outcome: FileOutcome): void {
  if (outcome.kind === 'already-done') summary.already_done += 1;
  else if (outcome.kind === 'not-cdr') summary.rejected_files += 1;
  else if (outcome.kind === 'cmr') {
    summary.cmr_files += 1;
    summary.cmr_unmatched += outcome.counts.unmatched;
    summary.rejected += outcome.counts.rejected;
    summary.skipped += outcome.counts.skipped;
  } else {
    if (outcome.interrupted) summary.unfinished += 1;
    else summary.files += 1;
    for (const key of ['records', 'queued', 'duplicates', 'rejected', 'skipped', 'abandoned', 'quality_joined'] as const) summary[key] += outcome.counts[key];
  }
}
