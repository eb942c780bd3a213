import { basename, dirname, join } from 'node:path';

/**
 * CUCM names a node's files `cdr_<cluster>_<node>_<yyyymmddhhmm>_<seq>` and `cmr_...` with ONE
 * sequence counter for both kinds, so the CDR and CMR files of a minute never share their last
 * part (`cdr_C_02_202012260557_476630` goes with `cmr_C_02_202012260557_476631`): they pair on
 * the cluster, node and minute, the sequence ignored.
 */
const CUCM_NAME = /^(cdr|cmr)_(.+_\d{12})_\d+$/i;
/** Any other `cdr_X` pairs with `cmr_X` exactly (hand-named files). */
const KIND_NAME = /^(cdr|cmr)_(.+)$/i;

/**
 * A `cdr_`/`cmr_` file name's kind and interval: its cluster, node and minute (or the rest of
 * the name), without the directory. Undefined for other names.
 */
function parseName(name: string): { kind: 'cdr' | 'cmr'; interval: string } | undefined {
  const parts = CUCM_NAME.exec(name) ?? KIND_NAME.exec(name);
  return parts ? { kind: parts[1]!.toLowerCase() === 'cmr' ? 'cmr' : 'cdr', interval: parts[2]! } : undefined;
}

/** A file's kind by its name (`cdr_...` or `cmr_...`); undefined for other names. */
export function cucmKind(path: string): 'cdr' | 'cmr' | undefined {
  return parseName(basename(path))?.kind;
}

/**
 * What pairs a CDR file with a CMR file: the same directory and interval. Undefined for a file
 * whose name is not `cdr_`/`cmr_`.
 */
export function intervalOf(path: string): string | undefined {
  const parsed = parseName(basename(path));
  return parsed && join(dirname(path), parsed.interval);
}

/**
 * Sorts a directory's files by interval (time order for one node's CUCM files), the CMR files
 * of an interval before its CDR files, then by name. Plain name order put every `cdr_` file
 * before every `cmr_` file, so a CDR file that went in without its pair came before its quality.
 */
export function sortByInterval(paths: readonly string[]): string[] {
  const keyed = paths.map((path) => {
    const name = basename(path);
    const parsed = parseName(name);
    return { path, name, interval: parsed?.interval ?? name, rank: parsed?.kind === 'cmr' ? 0 : 1 };
  });
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  keyed.sort((a, b) => compare(a.interval, b.interval) || a.rank - b.rank || compare(a.name, b.name));
  return keyed.map((k) => k.path);
}

/** The CDR and CMR files among `paths`, by interval (intervalOf), each list in the order given. */
export function groupByInterval(paths: readonly string[]): Map<string, { cdr: string[]; cmr: string[] }> {
  const groups = new Map<string, { cdr: string[]; cmr: string[] }>();
  for (const path of paths) {
    const parsed = parseName(basename(path));
    if (!parsed) continue;
    const interval = join(dirname(path), parsed.interval);
    let group = groups.get(interval);
    if (!group) groups.set(interval, (group = { cdr: [], cmr: [] }));
    group[parsed.kind].push(path);
  }
  return groups;
}

/** What a run does with its files, in order. */
export interface RunPlan {
  /** CMR files that pair with no CDR file among the files: read first, their rows kept for every CDR file of the run. */
  readonly orphans: readonly string[];
  /** Every other file in the order given; a CDR file with the CMR file it pairs with (read just before it) when it has one. */
  readonly steps: readonly { readonly path: string; readonly twin?: string }[];
}

/**
 * Pairs the files of a run by interval: the n-th CDR file of an interval (in the order given)
 * goes with its n-th CMR file (CUCM writes one of each per node and minute). A CMR file left
 * without a CDR file is an orphan. Files with other names are steps of their own (their kind is
 * found from their header when they are read).
 */
export function planRun(files: readonly string[]): RunPlan {
  const twinOf = new Map<string, string>();
  const paired = new Set<string>();
  for (const { cdr, cmr } of groupByInterval(files).values()) {
    cdr.forEach((path, i) => {
      const twin = cmr[i];
      if (twin === undefined) return;
      twinOf.set(path, twin);
      paired.add(twin);
    });
  }
  const orphans: string[] = [];
  const steps: { path: string; twin?: string }[] = [];
  for (const path of files) {
    const kind = cucmKind(path);
    const twin = twinOf.get(path);
    if (kind === 'cmr') {
      if (!paired.has(path)) orphans.push(path);
    } else steps.push(twin ? { path, twin } : { path });
  }
  return { orphans, steps };
}
