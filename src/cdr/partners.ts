import { dirname } from 'node:path';
import { listCandidates } from './files';
import { cucmKind, groupByInterval, intervalOf } from './intervals';

/** The files of the other kind that pair with `path` (same interval, intervalOf) in its directory now, in listing order. */
export async function partnersOnDisk(path: string): Promise<string[]> {
  const kind = cucmKind(path);
  const interval = intervalOf(path);
  if (!kind || interval === undefined) return [];
  const { files } = await listCandidates(dirname(path)).catch(() => ({ files: [] as string[] }));
  return files.filter((file) => cucmKind(file) !== kind && intervalOf(file) === interval);
}

/**
 * Finds the CMR file of a CDR file's interval in its directory, for CDR files named without
 * one. Each directory is listed once (a glob of thousands of CDR files must not list it
 * thousands of times) and each CMR file is handed out once; those in `skip` (already in the
 * run's plan) never are.
 */
export function cmrFinder(skip: ReadonlySet<string>): (cdrPath: string) => Promise<string | undefined> {
  const byDir = new Map<string, Promise<Map<string, { cmr: string[] }>>>();
  return async (cdrPath) => {
    const dir = dirname(cdrPath);
    let groups = byDir.get(dir);
    if (!groups) {
      groups = listCandidates(dir).then(
        ({ files }) => groupByInterval(files.filter((file) => !skip.has(file))),
        () => new Map(),
      );
      byDir.set(dir, groups);
    }
    return (await groups).get(intervalOf(cdrPath) ?? '')?.cmr.shift();
  };
}
