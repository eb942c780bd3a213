import { hostname } from 'node:os';
import type { Command } from 'commander';
import { isFeedEntryId, splitStatuses, unknownStatusesProblem } from '../src/api/queries';
import { presentCall } from '../src/pipeline/run-order';
import type { Runtime } from '../src/runtime';
import type { FeedEntry } from '../src/store/results-feed';
import { parseDuration } from '../src/util/duration';
import { jsonFor } from '../src/util/terminal';
import { fail, onStopSignals, repeatable, withRuntime } from './cli-support';

interface ResultsOptions {
  follow?: boolean;
  after: string;
  status: string[];
  group?: string;
  consumer?: string;
  claimIdle: string;
  config?: string;
}

/** How long a blocking read waits before looking at signals and stale entries again. */
const BLOCK_MS = 2000;

/**
 * `callhook results`: the results feed as NDJSON, one call per line (`{"id", "call"}`), from
 * `--after` (the oldest kept by default). `--follow` keeps reading. `--group` shares the feed
 * between consumers: each entry goes to one of them and is acknowledged once its line is written
 * to stdout; a consumer that died leaves the entries it had not written pending, and another
 * takes them after `--claim-idle`. Lines in a pipe when its reader dies are acknowledged and
 * lost (README): a process cannot know what its reader read.
 */
export function registerResults(program: Command): void {
  program
    .command('results')
    .description('print the results feed as NDJSON, one finished call per line')
    .option('--follow', 'keep reading new results as calls finish')
    .option('--after <id>', 'start after this entry id (0: the oldest kept)', '0')
    .option('--status <status>', 'only these final statuses (repeatable, or comma-separated)', repeatable, [])
    .option('--group <name>', 'read as a member of this consumer group (created at --after if new)')
    .option('--consumer <name>', 'this consumer\'s name in the group (default: <host>-<pid>, which leaves the group on exit when it holds nothing pending)')
    .option('--claim-idle <duration>', 'with --group: take over entries another consumer left unacknowledged this long', '30s')
    .option('--config <file>', 'policies file')
    .action(async (opts: ResultsOptions) => {
      const { statuses, unknown } = splitStatuses(opts.status);
      if (unknown.length > 0) fail(`--status: ${unknownStatusesProblem(unknown)}`);
      const claimIdleMs = parseDuration(opts.claimIdle);
      if (claimIdleMs === undefined) fail(`--claim-idle ${opts.claimIdle}: expected a duration such as 30s`);
      if (!isFeedEntryId(opts.after)) fail(`--after ${opts.after}: expected a feed entry id such as 1764400000000-0`);
      const stop = new AbortController();
      onStopSignals(() => stop.abort(), () => undefined, 130);
      await withRuntime(opts.config, async (runtime) => {
        /**
         * Writes one entry out (unless filtered away); resolves once the line has been handed to
         * the operating system (written into the pipe, the file, the terminal), not merely
         * buffered in this process: the callback of a write comes once it, and every write
         * before it, has left stdout's buffer. That is as far as a process can see: a line in a
         * pipe's buffer when the reader dies is acknowledged all the same.
         */
        const shown = jsonFor(process.stdout);
        const print = async (entry: FeedEntry) => {
          if (statuses.length > 0 && !statuses.includes(entry.call.status)) return;
          const line = `${shown(JSON.stringify({ id: entry.id, call: presentCall(entry.call, runtime.config.byId) }))}\n`;
          await new Promise<void>((resolve, reject) => process.stdout.write(line, (error) => (error ? reject(error) : resolve())));
        };
        if (opts.group) await readAsGroup(runtime, opts.group, opts.consumer, { ...opts, claimIdleMs }, print, stop.signal);
        else await readFrom(runtime, opts.after, !!opts.follow, print, stop.signal);
      });
    });
}

async function readFrom(runtime: Runtime, after: string, follow: boolean, print: (entry: FeedEntry) => Promise<void>, stop: AbortSignal): Promise<void> {
  let position = after;
  while (!stop.aborted) {
    const entries = await runtime.feed.read(position, 500, follow ? { ms: BLOCK_MS, signal: stop } : undefined);
    if (entries.length === 0 && !follow) return;
    for (const entry of entries) await print(entry);
    position = entries.at(-1)?.id ?? position;
  }
}

/** Reads as one consumer of a group: stale entries of dead consumers first, then new ones; each acknowledged once printed. */
async function readAsGroup(
  runtime: Runtime,
  group: string,
  named: string | undefined,
  opts: ResultsOptions & { claimIdleMs: number },
  print: (entry: FeedEntry) => Promise<void>,
  stop: AbortSignal,
): Promise<void> {
  // A name made for this run only would otherwise stay in the group after it (one per run of a cron job).
  const consumer = named ?? `${hostname()}-${process.pid}`;
  await runtime.feed.ensureGroup(group, opts.after);
  /** The newest entry this consumer handled: where the group is created again should it go. */
  let handled: string | undefined;
  const blocking = runtime.blockingRedis();
  try {
    while (!stop.aborted) {
      let entries: FeedEntry[];
      try {
        const stale = await runtime.feed.claimStale(group, consumer, opts.claimIdleMs, 100);
        const fresh = stale.length > 0 ? [] : await runtime.feed.readGroup(blocking, group, consumer, 100, BLOCK_MS);
        entries = [...stale, ...fresh];
      } catch (error) {
        if (!/^NOGROUP/.test((error as Error).message)) throw error;
        // A Redis restarted without persistence (or someone deleted the group): created again
        // after what this consumer handled, so nothing written since is missed, nor the entries
        // kept before read all over again.
        const from = handled ?? opts.after;
        await runtime.feed.ensureGroup(group, from);
        runtime.logger.warn({ group, after: from }, 'the consumer group was gone (Redis lost its data, or it was deleted): created again after the last entry this consumer handled');
        continue;
      }
      if (entries.length === 0 && !opts.follow) return;
      // Each entry is acknowledged once stdout took its line, one at a time: one a consumer is
      // killed before writing out (its output blocked, say) stays pending, and another consumer
      // takes it after --claim-idle. A batch acknowledged at its end would leave the lines
      // written before a kill pending too: read twice.
      for (const entry of entries) {
        await print(entry);
        await runtime.feed.ack(group, [entry.id]);
        if (!handled || isAfter(entry.id, handled)) handled = entry.id;
      }
    }
  } finally {
    blocking.disconnect();
    if (named === undefined) await runtime.feed.leaveGroup(group, consumer).catch(() => false);
  }
}

/** Whether stream entry id `a` comes after `b`. */
function isAfter(a: string, b: string): boolean {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am > bm || (am === bm && as > bs);
}
