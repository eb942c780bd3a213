import { basename, dirname, join } from 'node:path';

/**
 * CUCM names the two files of one interval `cdr_<cluster>_<node>_<yyyymmddhhmm>_<seq>` and
 * `cmr_<same>`; the part after the prefix is what pairs them.
 */
const CUCM_NAME = /^(cdr|cmr)_(.+)$/i;

/** A file's kind by its CUCM name (`cdr_...` or `cmr_...`); undefined for other names. */
export function cucmKind(path: string): 'cdr' | 'cmr' | undefined {
  const prefix = CUCM_NAME.exec(basename(path))?.[1]?.toLowerCase();
  return prefix === 'cdr' || prefix === 'cmr' ? prefix : undefined;
}

/** The path of a CUCM-named file's twin in the same directory (`cdr_X` ↔ `cmr_X`, same case of the rest). */
export function twinPath(path: string): string | undefined {
  const kind = cucmKind(path);
  if (!kind) return undefined;
  return join(dirname(path), `${kind === 'cdr' ? 'cmr' : 'cdr'}_${basename(path).slice(4)}`);
}

/** What a run does with its files, in order. */
export interface RunPlan {
  /** CMR files with no CDR twin among the files: read first, their rows kept for every CDR file of the run. */
  readonly orphans: readonly string[];
  /** Every other file in name order; a CDR file with its CMR twin (read just before it) when it has one. */
  readonly steps: readonly { readonly path: string; readonly twin?: string }[];
}

/**
 * Pairs the files of a run by name: `cdr_X` goes with `cmr_X` of the same directory when both
 * are in the list. A CMR file without its CDR twin is an orphan. Files with other names are
 * steps of their own (their kind is found from their header when they are read).
 */
export function planRun(files: readonly string[]): RunPlan {
  const present = new Set(files);
  const orphans: string[] = [];
  const steps: { path: string; twin?: string }[] = [];
  for (const path of files) {
    const kind = cucmKind(path);
    const twin = twinPath(path);
    const hasTwin = twin !== undefined && present.has(twin);
    if (kind === 'cmr') {
      if (!hasTwin) orphans.push(path);
    } else if (kind === 'cdr' && hasTwin) steps.push({ path, twin });
    else steps.push({ path });
  }
  return { orphans, steps };
}
