import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';

/** Bytes hashed at the end of a file; twice as many at its start. */
const EDGE_BYTES = 64 * 1024;

/**
 * Identity of a file's content, used to remember it as done or resume it: name, size and a
 * hash of its first 128 KiB and last 64 KiB (all of it for files up to 192 KiB; changing what is
 * hashed would make every file done so far look new), so a large file is
 * recognised without reading it whole. A file that is re-sent unchanged is recognised; one that
 * grew, shrank or changed in those bytes is ingested again, which is safe because call ids are
 * deterministic (already queued records come back as duplicates). A change between them that
 * keeps the size is not seen: `ingest-cdr --force` reads such a file again.
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
