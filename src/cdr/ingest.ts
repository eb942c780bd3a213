import { stat } from 'node:fs/promises';
import { ingestFile, zeroCounts, type Counts, type FileIngestOptions, type FileOutcome } from './ingest-file';

/** Totals of a run, as printed in the summary. */
export interface Summary extends Counts {
  /** Files read to the end in this run. */
  files: number;
  /** Files skipped because they were already done. */
  already_done: number;
  /** Files that were not CDR files (moved aside). */
  rejected_files: number;
  /** Files that could not be finished (error or interrupted); they resume on the next run. */
  unfinished: number;
  elapsed_ms: number;
}

export interface RunListener {
  fileStart?(path: string): void;
  fileEnd?(path: string, outcome: FileOutcome): void;
  fileError?(path: string, error: Error): void;
}

/** Sizes of the files, for a progress bar's total. */
export async function totalBytes(files: readonly string[]): Promise<number> {
  const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.size, () => 0)));
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * Ingests files one after another and adds up the summary. A file that fails (Redis gone,
 * file vanished) is reported and counted as unfinished; the others still go in.
 */
export async function ingestFiles(
  files: readonly string[],
  options: FileIngestOptions & { run?: RunListener; /** files never moved aside (named on the command line) */ named?: ReadonlySet<string> },
  now: () => number = Date.now): Promise<Summary> {
  const started = now();
  const summary: Summary = { files: 0, already_done: 0, rejected_files: 0, unfinished: 0, ...zeroCounts(), elapsed_ms: 0 };
  for (const path of files) {
    if (options.signal?.aborted) {
      summary.unfinished += 1;
      continue;
    }
    options.run?.fileStart?.(path);
    let outcome: FileOutcome;
    try {
      outcome = await ingestFile(path, { ...options, moveNotCdr: options.moveNotCdr !== false && !options.named?.has(path) });
    } catch (error) {
      summary.unfinished += 1;
      options.run?.fileError?.(path, error as Error);
      continue;
    }
    addOutcome(summary, outcome);
    options.run?.fileEnd?.(path, outcome);
  }
  summary.elapsed_ms = now() - started;
  return summary;
}

export function addOutcome(summary: Summary, outcome: FileOutcome): void {
  if (outcome.kind === 'already-done') summary.already_done += 1;
  else if (outcome.kind === 'not-cdr') summary.rejected_files += 1;
  else {
    if (outcome.interrupted) summary.unfinished += 1;
    else summary.files += 1;
    for (const key of ['records', 'queued', 'duplicates', 'rejected', 'skipped'] as const) summary[key] += outcome.counts[key];
  }
}
