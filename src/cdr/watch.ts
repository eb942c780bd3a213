import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { listCandidates } from './files';

export interface WatchOptions {
  /** How often the directories are listed, in ms. @defaultValue 1000 */
  intervalMs?: number;
  /** How long a file's size and mtime must stay unchanged before it counts as complete, in ms. @defaultValue 5000 */
  settleMs?: number;
  signal: AbortSignal;
  /** Called once per complete file (and again if the file later changes); calls never overlap. */
  onFile(path: string): Promise<void>;
  onError?(path: string, error: Error): void;
  now?: () => number;
}

interface Seen {
  size: number;
  mtimeMs: number;
  /** When this size/mtime was first seen. */
  since: number;
  /** Set once handled, so the same content is not handed over twice. */
  handled: boolean;
}

/**
 * Polls directories and hands over each file once it is complete. A file is complete when
 * its size and mtime have not changed for `settleMs` (across at least two listings), which is
 * what an SFTP upload in progress never looks like; temporary upload names are ignored
 * entirely. Polling rather than inotify also works on NFS/SMB mounts. Resolves when `signal`
 * aborts (after the file in hand is finished).
 */
export async function watchDirs(dirs: readonly string[], options: WatchOptions): Promise<void> {
  const interval = options.intervalMs ?? 1000;
  const settle = options.settleMs ?? 5000;
  const now = options.now ?? Date.now;
  const seen = new Map<string, Seen>();
  while (!options.signal.aborted) {
    const present = new Set<string>();
    for (const dir of dirs) {
      const files = await listCandidates(dir).catch((error: Error) => {
        options.onError?.(dir, error);
        return [];
      });
      for (const path of files) {
        if (options.signal.aborted) return;
        present.add(path);
        const info = await stat(path).catch(() => undefined);
        if (!info) continue;
        const t = now();
        const prev = seen.get(path);
        if (!prev || prev.size !== info.size || prev.mtimeMs !== info.mtimeMs) {
          seen.set(path, { size: info.size, mtimeMs: info.mtimeMs, since: t, handled: false });
          continue;
        }
        if (prev.handled || info.size === 0 || t - prev.since < settle) continue;
        try {
          await options.onFile(path);
          prev.handled = true;
        } catch (error) {
          // Left unhandled: tried again on a later listing (e.g. once Redis is back).
          options.onError?.(path, error as Error);
        }
      }
    }
    for (const path of seen.keys()) if (!present.has(path)) seen.delete(path);
    await sleep(interval, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
