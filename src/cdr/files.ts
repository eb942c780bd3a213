import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sortByInterval } from './intervals';

/**
 * Names of files still being uploaded or otherwise not meant for us: dotfiles and the
 * temporary names SFTP clients and editors use before renaming to the final name.
 */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.') || /\.(tmp|part|filepart|partial|swp|reason)$/i.test(name) || name.endsWith('~');
}

/** Why a file whose name is not valid UTF-8 is left alone (Node names files by strings, so it cannot open it). */
export const UNREADABLE_NAME = 'file name is not valid UTF-8, so it cannot be opened; rename it to ingest it';

/**
 * The files a command line names: files as given (also returned in `named`), directories expanded to their regular
 * files (not subdirectories such as rejected/, not temporary names), in interval order
 * (sortByInterval: time order for CUCM's names, a minute's CMR file before its CDR file). `unreadable`:
 * files in those directories whose names are not valid UTF-8 (UNREADABLE_NAME).
 */
export async function expandPaths(paths: readonly string[]): Promise<{ files: string[]; named: Set<string>; unreadable: string[]; problems: string[] }> {
  const files: string[] = [];
  const named = new Set<string>();
  const unreadable: string[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) problems.push(`${path}: no such file or directory`);
    else if (info.isDirectory()) {
      const listed = await listCandidates(path);
      files.push(...listed.files);
      unreadable.push(...listed.unreadable);
    } else if (info.isFile()) {
      files.push(path);
      named.add(path);
    }
    else problems.push(`${path}: not a regular file or directory`);
  }
  return { files, named, unreadable, problems };
}

/**
 * Regular, non-temporary files directly in `dir` (and symlinks to one, as a file named on the
 * command line may be), sorted by interval (sortByInterval), and the files whose names are not valid UTF-8 (as
 * printable paths, U+FFFD for each bad byte): listed by their bytes, since a name decoded with
 * replacement characters names no file. `checkLinks` false: symlinks are listed without finding
 * out where they lead (a watcher stats what it lists anyway, and not every listing).
 */
export async function listCandidates(dir: string, checkLinks = true): Promise<{ files: string[]; unreadable: string[] }> {
  const files: string[] = [];
  const unreadable: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, encoding: 'buffer' })) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const name = entry.name.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(entry.name)) unreadable.push(join(dir, name));
    else if (isTemporaryName(name)) continue;
    else if (entry.isFile() || !checkLinks || (await linksToFile(join(dir, name)))) files.push(join(dir, name));
  }
  return { files: sortByInterval(files), unreadable };
}

async function linksToFile(path: string): Promise<boolean> {
  return stat(path).then((target) => target.isFile(), () => false);
}
