import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Name of the folder, beside a rejected file, that it is moved into. */
export const REJECTED_DIR = 'rejected';

/**
 * Moves a file that is not a CDR file out of the way, to `<its dir>/rejected/<name>`, with the
 * reason in `<name>.reason`, so a watched directory does not retry it forever and an operator
 * can see why. Returns the new path, or undefined when another ingester moved it first.
 */
export async function moveAside(path: string, reason: string): Promise<string | undefined> {
  const dir = join(dirname(path), REJECTED_DIR);
  const target = join(dir, basename(path));
  await mkdir(dir, { recursive: true });
  await writeFile(`${target}.reason`, `${reason}\n`);
  try {
    await rename(path, target);
    return target;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
