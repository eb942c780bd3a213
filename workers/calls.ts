import type { Command } from 'commander';
import { listCalls, listQuery, parseQuery } from '../src/api/queries';
import type { CallRow } from '../src/store/call-index';
import { jsonFor, printable } from '../src/util/terminal';
import { fail, repeatable, withRuntime } from './cli-support';

interface CallsOptions {
  status: string[];
  policy?: string;
  number?: string;
  since?: string;
  until?: string;
  limit: string;
  cursor?: string;
  json?: boolean;
  config?: string;
}

/** `callhook calls`: list and search calls, newest first, as `GET /v1/calls` does (table or `--json`). */
export function registerCalls(program: Command): void {
  program
    .command('calls')
    .description('list and search calls, newest first (GET /v1/calls)')
    .option('--status <status>', 'queued, running, completed, partial, failed, unmatched (repeatable, or comma-separated)', repeatable, [])
    .option('--policy <id>', 'calls of this policy')
    .option('--number <number>', 'calling or called number (exactly, or by its digits)')
    .option('--since <time>', 'last change at or after: ISO 8601 or a duration back from now, with its unit (1h, 7d)')
    .option('--until <time>', 'last change at or before')
    .option('--limit <n>', 'calls per page (1-500)', '50')
    .option('--cursor <cursor>', 'the next page, as the previous one printed it')
    .option('--json', 'print the API answer as JSON')
    .option('--config <file>', 'policies file')
    .action(async (opts: CallsOptions) => {
      const query = parseQuery(listQuery, {
        ...(opts.status.length > 0 ? { status: opts.status } : {}),
        ...Object.fromEntries((['policy', 'number', 'since', 'until', 'cursor'] as const).filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]])),
        limit: opts.limit,
      });
      if (!query.ok) fail(query.problems.map((p) => `--${p}`));
      await withRuntime(opts.config, async (runtime) => {
        const page = await listCalls(runtime.index, runtime.config.byId, query.value);
        if (opts.json) process.stdout.write(`${jsonFor(process.stdout)(JSON.stringify(page, null, 2))}\n`);
        else process.stdout.write(table(page.calls) + (page.next_cursor ? `\nmore: --cursor ${page.next_cursor}\n` : ''));
      });
    });
}

function table(calls: CallRow[]): string {
  if (calls.length === 0) return 'no calls\n';
  const rows = [['call', 'status', 'policy', 'from → to', 'finished', 'apps']];
  for (const c of calls) {
    const apps = Object.entries(c.apps).map(([slug, status]) => `${slug}:${status}`).join(' ');
    rows.push([c.call_id, c.status, c.policy ?? '-', printable(`${c.calling_number} → ${c.called_number}`), c.finished_at ?? '-', apps]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
