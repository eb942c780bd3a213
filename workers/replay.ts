import type { Command } from 'commander';
import { readTimeBound, timeBoundProblem } from '../src/util/duration';
import { fail, withRuntime } from './cli-support';

/**
 * `callhook replay <call_id>...` or `callhook replay --failed [--since 1h]`: re-queues finished
 * calls to re-run their failed apps (successful apps are kept and not sent again). A running
 * worker picks them up. Exit 1 when any call could not be replayed.
 */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('re-run the failed apps of finished calls (successful apps are not sent again)')
    .argument('[call_ids...]', 'calls to replay')
    .option('--failed', 'replay every call that ended failed or partial')
    .option('--since <time>', 'with --failed: only calls that finished since then: a duration back from now, with its unit (1h), or ISO 8601 (default 7d)')
    .option('--config <file>', 'policies file')
    .action(async (callIds: string[], opts: { failed?: boolean; since?: string; config?: string }) => {
      // Each of these used to be ignored without a word: `replay c-1 --failed` replayed every
      // failed call, `replay c-1 --since 1h` replayed c-1 whenever it finished.
      if (opts.failed && callIds.length > 0) fail(`name call ids or use --failed, not both (--failed replays every failed or partial call, not only ${callIds.join(', ')})`);
      if (!opts.failed && opts.since !== undefined) fail('--since goes with --failed: it chooses the failed calls to replay (named calls are replayed whenever they finished)');
      if (!opts.failed && callIds.length === 0) fail('name one or more call ids, or use --failed [--since 1h]');
      // As `calls` and `export` read it: a duration back from now (by Redis's clock, which scores
      // the indexes, not this host's) or an ISO 8601 time.
      const since = readTimeBound(opts.since ?? '7d');
      if (since === undefined) fail(`--since: ${timeBoundProblem(opts.since ?? '')}`);
      await withRuntime(opts.config, async (runtime) => {
        const ids = opts.failed ? await runtime.store.failedSince(since) : callIds;
        let refused = 0;
        let realtimeOnly = 0;
        let nothingToRun = 0;
        let gone = 0;
        for (const id of ids) {
          const outcome = await runtime.replayer.replay(id);
          if (outcome.ok) process.stdout.write(`${id}: queued again (${outcome.replayed.join(', ') || 'no app to run'})\n`);
          // --failed finds every failed call; one that ran real-time apps only was never a post-call run.
          else if (opts.failed && outcome.realtimeOnly) realtimeOnly += 1;
          // A call the index listed whose record expired (or was deleted) since: nothing left to replay.
          else if (opts.failed && outcome.gone) gone += 1;
          // Nor can replay do anything for one whose only failures are real-time apps or apps
          // since removed from its policy: said, and counted, but not an error on every run.
          else if (opts.failed && outcome.nothingToRun) {
            nothingToRun += 1;
            process.stdout.write(`${id}: skipped: ${outcome.message}\n`);
          } else {
            refused += 1;
            const where = outcome.unknownPolicy ? ` (${runtime.settings.configPath}; name the file that has it with --config)` : '';
            process.stderr.write(`${id}: ${outcome.message}${where}\n`);
          }
        }
        const skips = [
          ...(realtimeOnly > 0 ? [`${realtimeOnly} more ran real-time apps only: nothing to replay`] : []),
          ...(nothingToRun > 0 ? [`${nothingToRun} more failed only in apps replay does not run: real-time apps, or apps no longer in their policy`] : []),
          ...(gone > 0 ? [`${gone} more no longer stored: their records expired or were deleted`] : []),
        ];
        const skipped = skips.length > 0 ? ` (${skips.join('; ')})` : '';
        const considered = ids.length - realtimeOnly - nothingToRun - gone;
        process.stdout.write(`${considered - refused} of ${considered} call(s) queued for replay${skipped}\n`);
        process.exitCode = refused > 0 ? 1 : 0;
      }, 'writes');
    });
}
