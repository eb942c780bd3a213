import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { listCandidates } from './files';
import { cucmKind, twinPath } from './intervals';

export interface WatchOptions {
  /** How often the directories are listed, in ms. @defaultValue 1000 */
  intervalMs?: number;
  /** How long a file's size and mtime must stay unchanged before it counts as complete, in ms. @defaultValue 5000 */
  settleMs?: number;
  /**
   * How long a complete CDR file waits for its CMR twin (`cdr_X` ↔ `cmr_X`) to be complete, and
   * a complete CMR file for its CDR twin to appear, in ms; then the file goes on alone, so
   * nothing waits for good. @defaultValue 10000
   */
  cmrWaitMs?: number;
  /** Pair CDR and CMR files by name; false hands every file over alone once complete (`--no-cmr`). @defaultValue true */
  pairs?: boolean;
  signal: AbortSignal;
  /**
   * Called once per complete file (and again if the file later changes); calls never overlap.
   * For a CDR file, `twin` is its CMR twin when that was complete in time (it is not handed
   * over on its own then).
   */
  onFile(path: string, twin?: string): Promise<void>;
  /** Called after each listing, once its files are handed over. */
  onListing?(): Promise<void>;
  onError?(path: string, error: Error): void;
  /** Called once for each file whose name is not valid UTF-8 (UNREADABLE_NAME), while it stays. */
  onUnreadable?(path: string): void;
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
 * entirely. Polling rather than inotify also works on NFS/SMB mounts. CUCM pushes the CDR and
 * CMR files of an interval one after the other: a complete CDR file waits up to `cmrWaitMs` for
 * its CMR twin so both are read together, CMR first. Resolves when `signal` aborts (after the
 * file in hand is finished).
 */
export async function watchDirs(dirs: readonly string[], options: WatchOptions): Promise<void> {
  const interval = options.intervalMs ?? 1000;
  const settle = options.settleMs ?? 5000;
  const cmrWait = options.cmrWaitMs ?? 10_000;
  const now = options.now ?? Date.now;
  const seen = new Map<string, Seen>();
  const complete = (s: Seen | undefined, t: number) => s !== undefined && s.size > 0 && t - s.since >= settle;
  /** Still inside the wait for a twin that began when `s` became complete. */
  const waiting = (s: Seen, t: number) => t - (s.since + settle) < cmrWait;
  let unreadable = new Set<string>();
  while (!options.signal.aborted) {
    const listed: string[] = [];
    const unreadableNow = new Set<string>();
    for (const dir of dirs) {
      const { files, unreadable: badNames } = await listCandidates(dir).catch((error: Error) => {
        options.onError?.(dir, error);
        return { files: [], unreadable: [] };
      });
      for (const path of badNames) {
        if (!unreadable.has(path)) options.onUnreadable?.(path);
        unreadableNow.add(path);
      }
      for (const path of files) {
        if (options.signal.aborted) return;
        const info = await stat(path).catch(() => undefined);
        if (!info) continue;
        listed.push(path);
        const prev = seen.get(path);
        if (!prev || prev.size !== info.size || prev.mtimeMs !== info.mtimeMs) {
          seen.set(path, { size: info.size, mtimeMs: info.mtimeMs, since: now(), handled: false });
        }
      }
    }
    unreadable = unreadableNow;
    const present = new Set(listed);
    for (const path of seen.keys()) if (!present.has(path)) seen.delete(path);

    for (const path of listed) {
      if (options.signal.aborted) return;
      const file = seen.get(path);
      const t = now();
      if (!file || file.handled || !complete(file, t)) continue;
      const kind = options.pairs === false ? undefined : cucmKind(path);
      const twin = kind ? twinPath(path) : undefined;
      const other = twin === undefined ? undefined : seen.get(twin);
      let withTwin: string | undefined;
      if (kind === 'cdr') {
        if (complete(other, t)) withTwin = twin;
        else if (waiting(file, t)) continue;
      } else if (kind === 'cmr') {
        if (other && !other.handled) continue; // its CDR file takes it along
        if (!other && waiting(file, t)) continue; // its CDR file may still come
      }
      try {
        await options.onFile(path, withTwin);
        file.handled = true;
        if (other && withTwin) other.handled = true;
      } catch (error) {
        // Left unhandled: tried again on a later listing (e.g. once Redis is back).
        options.onError?.(path, error as Error);
      }
    }
    await options.onListing?.().catch((error: Error) => options.onError?.(dirs.join(', '), error));
    await sleep(interval, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
