import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';

/** Bytes hashed at each end of a file. */
const EDGE_BYTES = 64 * 1024;

/**
 * Identity of a file's content, used to remember it as done or resume it: name, size and a
 * hash of its first and last 64 KiB (all of it for files up to 128 KiB). A file that is
 * re-sent unchanged is recognised; one that grew or changed is ingested again, which is safe
 * because call ids are deterministic (already queued records come back as duplicates).
 */
export async function fileIdentity(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const hash = createHash('sha256').update(`${basename(path)}\0${size}\0`);
    const head = Buffer.alloc(Math.min(size, EDGE_BYTES * 2));
    await handle.read(head, 0, head.length, 0);
    hash.update(head);
    if (size > head.length) {
      const tail = Buffer.alloc(EDGE_BYTES);
      await handle.read(tail, 0, EDGE_BYTES, size - EDGE_BYTES);
      hash.update(tail);
    }
    return `${basename(path)}:${size}:${hash.digest('hex').slice(0, 32)}`;
  } finally {
    await handle.close();
  }
}
