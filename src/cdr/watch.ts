import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { listCandidates } from './files';
import { cucmKind, groupByInterval, intervalOf } from './intervals';

export interface WatchOptions {
  /** How often the directories are listed, in ms. @defaultValue 1000 */
  intervalMs?: number;
  /** How long a file's size and mtime must stay unchanged before it counts as complete, in ms. @defaultValue 5000 */
  settleMs?: number;
  /**
   * How long a complete CDR file waits for a CMR file of its interval (intervals.ts: same
   * cluster, node and minute) to be complete, and a complete CMR file for a CDR file of its
   * interval to appear, in ms; then the file goes on alone, so nothing waits for good.
   * @defaultValue 10000
   */
  cmrWaitMs?: number;
  /** Pair CDR and CMR files by interval; false hands every file over alone once complete (`--no-cmr`). @defaultValue true */
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
  /** Called when a file handed over failed (onFile threw); it is tried again later. */
  onError?(path: string, error: Error): void;
  /** Called when a directory cannot be listed (gone, its permissions), or onListing failed; tried again later. */
  onDirError?(dir: string, error: Error): void;
  /** Called once for each file whose name is not valid UTF-8 (UNREADABLE_NAME), while it stays. */
  onUnreadable?(path: string): void;
  now?: () => number;
}

interface Seen extends Backoff {
  size: number;
  mtimeMs: number;
  /** When this size/mtime was first seen. */
  since: number;
  /** Set once handled, so the same content is not handed over twice. */
  handled: boolean;
}

/** Failed attempts at a file or at listing a directory, and when the next may be made. */
interface Backoff {
  failures?: number;
  retryAt?: number;
}

/**
 * Handled files are looked at again (stat) only on one listing in this many: a directory keeps
 * every file CUCM ever pushed, and a stat of each on every listing cost most of a core at 20,000
 * files. A handled file that changes is still handed over again, within this many listings.
 */
const RESTAT_HANDLED_EVERY = 60;
/** The longest wait before a file, or a directory, that failed is tried again. */
const MAX_RETRY_MS = 60_000;

/** Counts a failure and sets when to try again: the interval, doubled each time, at most MAX_RETRY_MS. */
function failed(entry: Backoff, t: number, interval: number): void {
  entry.failures = (entry.failures ?? 0) + 1;
  entry.retryAt = t + Math.min(interval * 2 ** entry.failures, MAX_RETRY_MS);
}

/**
 * Polls directories and hands over each file once it is complete. A file is complete when
 * its size and mtime have not changed for `settleMs` (across at least two listings), which is
 * what an SFTP upload in progress never looks like; temporary upload names are ignored
 * entirely. Polling rather than inotify also works on NFS/SMB mounts. CUCM pushes the CDR and
 * CMR files of an interval one after the other: a complete CDR file waits up to `cmrWaitMs` for
 * a CMR file of its interval so both are read together, CMR first. Resolves when `signal`
 * aborts (after the file in hand is finished).
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
  const dirFailures = new Map<string, Backoff>();
  for (let listing = 0; !options.signal.aborted; listing += 1) {
    const listed: string[] = [];
    const unreadableNow = new Set<string>();
    for (const dir of dirs) {
      const failure = dirFailures.get(dir);
      if (failure && now() < failure.retryAt!) {
        for (const path of seen.keys()) if (path.startsWith(join(dir, '/'))) listed.push(path); // kept, not forgotten
        continue;
      }
      const { files, unreadable: badNames } = await listCandidates(dir, false).then(
        (found) => {
          dirFailures.delete(dir);
          return found;
        },
        (error: Error) => {
          // A directory that went away or cannot be read: said once per retry, retried less and less often.
          options.onDirError?.(dir, error);
          const entry = dirFailures.get(dir) ?? {};
          failed(entry, now(), interval);
          dirFailures.set(dir, entry);
          return { files: [], unreadable: [] };
        },
      );
      for (const path of badNames) {
        if (!unreadable.has(path)) options.onUnreadable?.(path);
        unreadableNow.add(path);
      }
      for (const path of files) {
        if (options.signal.aborted) return;
        if (seen.get(path)?.handled && listing % RESTAT_HANDLED_EVERY !== 0) {
          listed.push(path);
          continue;
        }
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile()) continue; // gone, or a symlink to no file
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
    const intervals = groupByInterval(options.pairs === false ? [] : listed);

    for (const path of listed) {
      if (options.signal.aborted) return;
      const file = seen.get(path);
      const t = now();
      if (!file || file.handled || !complete(file, t) || t < (file.retryAt ?? 0)) continue;
      const kind = options.pairs === false ? undefined : cucmKind(path);
      const group = intervals.get(intervalOf(path) ?? '');
      let withTwin: string | undefined;
      if (kind === 'cdr') {
        withTwin = group?.cmr.find((cmr) => complete(seen.get(cmr), t));
        if (!withTwin && waiting(file, t)) continue;
      } else if (kind === 'cmr') {
        const cdrs = group?.cdr ?? [];
        if (cdrs.some((cdr) => !seen.get(cdr)?.handled)) continue; // a CDR file of its interval takes it along
        if (cdrs.length === 0 && waiting(file, t)) continue; // its CDR file may still come
      }
      try {
        await options.onFile(path, withTwin);
        file.handled = true;
        const twin = withTwin === undefined ? undefined : seen.get(withTwin);
        if (twin) twin.handled = true;
      } catch (error) {
        // Left unhandled: tried again later (once Redis is back, once its permissions are
        // mended), less and less often, so a file that keeps failing does not fill the log.
        options.onError?.(path, error as Error);
        failed(file, t, interval);
      }
    }
    await options.onListing?.().catch((error: Error) => options.onDirError?.(dirs.join(', '), error));
    await sleep(interval, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
