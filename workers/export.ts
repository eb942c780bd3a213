import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { splitStatuses, unknownStatusesProblem } from '../src/api/queries';
import { presentCall } from '../src/pipeline/run-order';
import { exportCalls } from '../src/results/export';
import { readTimeBound, timeBoundProblem } from '../src/util/duration';
import { isTerminal } from '../src/util/terminal';
import { fail, repeatable, withRuntime } from './cli-support';

interface ExportOptions {
  since: string;
  until?: string;
  status: string[];
  format: string;
  out?: string;
  config?: string;
}

/** `callhook export --since 1d [--status ...] [--format ndjson|csv] [--out FILE]`: calls for analytics back-fills, streamed. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write the calls of a time window as NDJSON or CSV (one row per app result), oldest first')
    .requiredOption('--since <time>', 'last change at or after: ISO 8601 or a duration back from now, with its unit (1d)')
    .option('--until <time>', 'last change at or before (default now)')
    .option('--status <status>', 'only these statuses (repeatable, or comma-separated)', repeatable, [])
    .option('--format <format>', 'ndjson or csv', 'ndjson')
    .option('--out <file>', 'write here instead of stdout')
    .option('--config <file>', 'policies file')
    .action(async (opts: ExportOptions) => {
      const since = readTimeBound(opts.since);
      if (since === undefined) fail(`--since: ${timeBoundProblem(opts.since)}`);
      const until = opts.until === undefined ? undefined : readTimeBound(opts.until);
      if (opts.until !== undefined && until === undefined) fail(`--until: ${timeBoundProblem(opts.until)}`);
      if (opts.format !== 'ndjson' && opts.format !== 'csv') fail(`--format ${opts.format}: use ndjson or csv`);
      const { statuses, unknown } = splitStatuses(opts.status);
      if (unknown.length > 0) fail(`--status: ${unknownStatusesProblem(unknown)}`);
      await withRuntime(opts.config, async (runtime) => {
        const out = opts.out ? await openFile(opts.out) : process.stdout;
        const { calls } = await exportCalls(runtime.redis, runtime.settings.prefix, runtime.store, {
          since,
          until,
          statuses,
          format: opts.format as 'ndjson' | 'csv',
          out,
          present: (call) => presentCall(call, runtime.config.byId),
          terminal: !opts.out && isTerminal(process.stdout),
        });
        if (opts.out) {
          out.end();
          await finished(out);
        }
        process.stderr.write(`${calls} call(s) exported\n`);
      });
    });
}

/** The `--out` file, open; or exit 1 saying why it cannot be (a missing directory, no permission). */
async function openFile(path: string): Promise<WriteStream> {
  const file = createWriteStream(path);
  try {
    await once(file, 'open');
  } catch (error) {
    fail(`--out ${path}: ${(error as Error).message}`);
  }
  // A later write error (disk full) fails the export's next write, or `finished` at its end.
  file.on('error', () => undefined);
  return file;
}
