import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Name of the folder, beside a rejected file, that it is moved into. */
export const REJECTED_DIR = 'rejected';

/** How many names (`<name>`, `<name>.1`, ...) are tried in rejected/ before giving up. */
const MAX_NAMES = 100;

/** Creates a file only where nothing is, and never through a symlink: false when the name is taken. */
const EXCLUSIVE = constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_WRONLY;

/** rejected/ exists but is not a real directory: nothing is moved or written there. */
export class RejectedDirError extends Error {
  override name = 'RejectedDirError';
}

/**
 * Moves a file that is not a CDR file out of the way, to `<its dir>/rejected/<name>`, with the
 * reason in `<name>.reason`, so a watched directory does not retry it forever and an operator
 * can see why. Returns the new path, or undefined when another ingester moved it first.
 *
 * Whoever can drop files in the directory can also plant entries in rejected/, so nothing there
 * is followed or overwritten: rejected/ must be a real directory (not a symlink), and both names
 * are claimed with O_EXCL|O_NOFOLLOW; a name already taken (an earlier file of that name, a
 * planted link) moves on to `<name>.1`, `<name>.2`...
 */
export async function moveAside(path: string, reason: string): Promise<string | undefined> {
  const dir = join(dirname(path), REJECTED_DIR);
  await realDirectory(dir);
  for (let n = 0; n < MAX_NAMES; n++) {
    const target = join(dir, n === 0 ? basename(path) : `${basename(path)}.${n}`);
    if (!(await createExclusive(`${target}.reason`, `${reason}\n`))) continue;
    // The file's own name, claimed empty: the rename below then replaces only what this created.
    if (!(await createExclusive(target, ''))) {
      await unlink(`${target}.reason`);
      continue;
    }
    try {
      await rename(path, target);
      return target;
    } catch (error) {
      await Promise.all([unlink(target), unlink(`${target}.reason`)].map((p) => p.catch(() => undefined)));
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
  throw new RejectedDirError(`${dir}: ${basename(path)} and the next ${MAX_NAMES - 1} names are taken; clear out ${REJECTED_DIR}/`);
}

/** Makes `dir` if it is missing; refuses one that is a symlink or not a directory. */
async function realDirectory(dir: string): Promise<void> {
  await mkdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  const info = await lstat(dir);
  if (info.isSymbolicLink()) throw new RejectedDirError(`${dir} is a symlink: refusing to move files through it (make it a real directory)`);
  if (!info.isDirectory()) throw new RejectedDirError(`${dir} is not a directory: refusing to move files there (make it a real directory)`);
}

async function createExclusive(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, EXCLUSIVE, 0o666);
  } catch (error) {
    // EEXIST: a file, a directory or a link of that name; ELOOP: O_NOFOLLOW met a link.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') return false;
    throw error;
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  return true;
}
