import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { expandPaths, UNREADABLE_NAME } from '../src/cdr/files';
import { IngestRun, ingestFiles, ORPHAN_HOLD_MS, totalBytes, type RunOptions, type Summary } from '../src/cdr/ingest';
import { FileLedger } from '../src/cdr/ledger';
import { RedisWaits } from '../src/cdr/redis-waits';
import { logReporter, terminalReporter, type Reporter } from '../src/cdr/report';
import { watchDirs } from '../src/cdr/watch';
import { DEFAULTS } from '../src/defaults';
import { SettingsError } from '../src/errors';
import { createLogger } from '../src/logger';
import { startOpsServer } from '../src/callhook';
import { openWriterRuntime, type Runtime } from '../src/runtime';
import { parseDuration } from '../src/util/duration';
import { fail, loadOrExit, onStopSignals } from './cli-support';
import { requireRedis } from './redis-fallback';

interface IngestCdrFlags {
  watch?: boolean;
  policy?: string;
  dryRun?: boolean;
  config?: string;
  settle: string;
  interval: string;
  cmrWait: string;
  /** False with --no-cmr. */
  cmr: boolean;
  batch: string;
  force?: boolean;
}

/** `callhook ingest-cdr <file|dir>... [--watch] [--policy ID] [--dry-run] [--config FILE]` */
export function registerIngestCdr(program: Command): void {
  program
    .command('ingest-cdr')
    .description('queue a post-call event for every call record in CUCM CDR files, with voice quality from their CMR files (or watch directories for new files)')
    .argument('<paths...>', 'CDR and CMR files or directories')
    .option('--watch', 'keep watching the directories and ingest each new file once it is complete')
    .option('--policy <id>', 'run this policy for every call (default: match rules)')
    .option('--dry-run', 'parse and report, queue nothing, move nothing')
    .option('--config <file>', 'policies file (default: $CALLHOOK_CONFIG or config/policies.yaml)')
    .option('--settle <duration>', 'with --watch: a file is complete once unchanged this long', '5s')
    .option('--interval <duration>', 'with --watch: how often directories are listed', '1s')
    .option('--cmr-wait <duration>', 'with --watch: how long a complete CDR file waits for its CMR file', '10s')
    .option('--no-cmr', 'do not read CMR files: no voice quality joined to the calls')
    .option('--batch <n>', 'events per queue round trip', String(DEFAULTS.cdrBatch))
    .option('--force', 'read the named files again from the start, done or not (calls already queued come back as duplicates)')
    .action(async (paths: string[], flags: IngestCdrFlags) => {
      process.exitCode = await run(paths, flags);
    });
}

async function run(paths: string[], flags: IngestCdrFlags): Promise<number> {
  const { settings, config } = loadOrExit(process.env, flags.config);
  if (flags.policy !== undefined && !config.byId.has(flags.policy)) {
    fail(`--policy ${flags.policy}: no such policy in ${settings.configPath} (policies: ${[...config.byId.keys()].join(', ') || 'none'})`);
  }
  const settleMs = durationFlag('--settle', flags.settle);
  const intervalMs = durationFlag('--interval', flags.interval);
  const cmrWaitMs = durationFlag('--cmr-wait', flags.cmrWait);
  const batchSize = Number(flags.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) fail(`--batch ${flags.batch}: expected a whole number from 1 to 10000`);
  const { files, named, unreadable, problems } = await expandPaths(paths);
  if (problems.length > 0) fail(problems);
  if (flags.force) {
    // Only files: forcing a whole directory would re-read every file CUCM ever pushed.
    if (flags.watch) fail('--force reads the named files once: it does not go with --watch');
    const dirs = (await Promise.all(paths.map(async (p) => ((await stat(p)).isDirectory() ? p : undefined)))).filter(Boolean);
    if (dirs.length > 0) fail(`--force takes files, not directories: ${dirs.join(', ')}`);
  }
  if (flags.watch) {
    const notDirs = (await Promise.all(paths.map(async (p) => ((await stat(p)).isDirectory() ? undefined : p)))).filter(Boolean);
    if (notDirs.length > 0) fail(`--watch takes directories: ${notDirs.join(', ')}`);
  }

  const logger = createLogger({ level: settings.logLevel, secrets: config.secrets });
  const reporter: Reporter = process.stderr.isTTY ? terminalReporter(process.stderr) : logReporter(logger);
  let runtime: Runtime | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  // Redis going away fails the file at once (it resumes from its checkpoint on the next run or
  // listing): the connections do not wait for Redis, and no reply lost with one is waited for.
  const waits = new RedisWaits();
  if (!flags.dryRun) {
    await requireRedis(settings.redisUrl);
    // Refuses a Redis that evicts keys: the calls it queues would be dropped without a word.
    runtime = await openWriterRuntime(settings, config, logger, { failFast: { commandTimeoutMs: settings.cdrRedisTimeoutMs } }).catch((error: Error) =>
      fail(error instanceof SettingsError ? error.problems : `REDIS_URL: ${error.message}`),
    );
    runtime.onRedisLost(() => waits.lost());
    // The calls it queues are counted in this process: served as a worker serves its own.
    if (settings.metricsPort !== undefined) await startOpsServer(runtime, closers, 'cdr ingester').catch((error: Error) => fail(`CALLHOOK_METRICS_PORT ${settings.metricsPort}: ${error.message}`));
  }

  const abort = new AbortController();
  onStopSignals(
    (signal) => {
      reporter.info(`${signal}: finishing the batches in flight, then stopping (again to exit at once)`);
      abort.abort();
    },
    () => undefined,
    130,
  );

  const rt = runtime;
  const options: RunOptions = {
    enqueue: rt ? (events) => waits.wait(rt.producer.enqueueSerialized(events)) : undefined,
    ledger: rt ? new FileLedger(rt.redis, settings.prefix, (reply) => waits.wait(reply)) : undefined,
    policy: flags.policy,
    batchSize,
    batchDelayMs: Number(process.env.CALLHOOK_CDR_BATCH_DELAY_MS) || 0, // test knob: slows ingestion so a test can kill it mid-file
    signal: abort.signal,
    listener: reporter,
    cmr: flags.cmr,
    force: !!flags.force,
  };
  let summary: Summary;
  try {
    if (flags.watch) summary = await watch(paths, options, reporter, { settleMs, intervalMs, cmrWaitMs });
    else {
      for (const path of unreadable) reporter.warn(`${path}: ${UNREADABLE_NAME}`, { file: path });
      reporter.begin(await totalBytes(files));
      summary = await ingestFiles(files, { ...options, run: reporter, named });
    }
  } finally {
    for (const close of closers) await close();
    await runtime?.close();
  }
  reporter.finish(summary, !!flags.dryRun);
  // A command whose reply was lost with its connection keeps its timeout's timer (ioredis cannot
  // cancel it), which would hold the exit for up to CALLHOOK_CDR_REDIS_TIMEOUT for nothing. The
  // log lines are written first: pino writes asynchronously.
  if (waits.abandoned > 0) {
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    process.exit(summary.unfinished > 0 ? 1 : 0);
  }
  if (summary.unfinished > 0) return 1;
  // A watcher runs until stopped: what it rejected was logged as it came (and may have been read
  // whole later, a file caught mid-upload), and a service manager takes 2 for a failed stop.
  if (flags.watch) return 0;
  return summary.rejected > 0 || summary.rejected_files > 0 || unreadable.length > 0 ? 2 : 0;
}

async function watch(dirs: string[], options: RunOptions, reporter: Reporter, timing: { settleMs: number; intervalMs: number; cmrWaitMs: number }): Promise<Summary> {
  const run = new IngestRun({ ...options, run: reporter });
  reporter.info('watching for CDR and CMR files', { dirs, settle_ms: timing.settleMs, interval_ms: timing.intervalMs, cmr_wait_ms: options.cmr === false ? null : timing.cmrWaitMs });
  await watchDirs(dirs, {
    ...timing,
    pairs: options.cmr !== false,
    signal: options.signal ?? new AbortController().signal,
    onFile: (path, twin) => run.attempt(path, () => run.file(path, twin)),
    onListing: () => run.releaseOrphans({ before: Date.now() - ORPHAN_HOLD_MS, mark: true }),
    onError: (path, error) => reporter.fileError?.(path, error),
    onDirError: (dir, error) => reporter.warn(`${dir}: cannot list it: ${error.message}; tried again later`, { dir, err: error.message }),
    onUnreadable: (path) => reporter.warn(`${path}: ${UNREADABLE_NAME}`, { file: path }),
  });
  await run.releaseOrphans({ mark: true });
  return run.finish();
}

function durationFlag(name: string, raw: string): number {
  const ms = parseDuration(raw);
  if (ms === undefined) fail(`${name} ${raw}: expected a duration such as 5s or 500ms`);
  return ms;
}
