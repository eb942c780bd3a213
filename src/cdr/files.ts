import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

/**
 * Names of files still being uploaded or otherwise not meant for us: dotfiles and the
 * temporary names SFTP clients and editors use before renaming to the final name.
 */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.') || /\.(tmp|part|filepart|partial|swp|reason)$/i.test(name) || name.endsWith('~');
}

/**
 * The files a command line names: files as given (also returned in `named`), directories expanded to their regular
 * files (not subdirectories such as rejected/, not temporary names), in name order, which
 * for CUCM's `cdr_<cluster>_<node>_<yyyymmddhhmm>_<seq>` names is time order.
 */
export async function expandPaths(paths: readonly string[]): Promise<{ files: string[]; named: Set<string>; problems: string[] }> {
  const files: string[] = [];
  const named = new Set<string>();
  const problems: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) problems.push(`${path}: no such file or directory`);
    else if (info.isDirectory()) files.push(...(await listCandidates(path)));
    else if (info.isFile()) {
      files.push(path);
      named.add(path);
    }
    else problems.push(`${path}: not a regular file or directory`);
  }
  return { files, named, problems };
}

/** Regular, non-temporary files directly in `dir`, sorted by name. */
export async function listCandidates(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !isTemporaryName(e.name))
    .map((e) => join(dir, e.name))
    .sort((a, b) => (basename(a) < basename(b) ? -1 : basename(a) > basename(b) ? 1 : 0));
}
