import type { Command } from 'commander';
import { listQuery, listRequest, parseQuery } from '../src/api/queries';
import { inRunOrder } from '../src/pipeline/run-order';
import { encodeCursor, type CallRow } from '../src/store/call-index';
import { fail, withRuntime } from './cli-support';

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

const repeatable = (value: string, all: string[]) => [...all, value];

/** `callhook calls`: list and search calls, newest first, as `GET /v1/calls` does (table or `--json`). */
export function registerCalls(program: Command): void {
  program
    .command('calls')
    .description('list and search calls, newest first (GET /v1/calls)')
    .option('--status <status>', 'queued, running, completed, partial, failed, unmatched (repeatable, or comma-separated)', repeatable, [])
    .option('--policy <id>', 'calls of this policy')
    .option('--number <number>', 'calling or called number (exactly, or by its digits)')
    .option('--since <time>', 'last change at or after: ISO 8601 or a duration back from now (1h, 7d)')
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
        const { filters, limit, after } = listRequest(query.value);
        const page = await runtime.index.list(filters, limit, after);
        const calls = page.rows.map((row) => ({ ...row, apps: inRunOrder(row.apps, row.policy ? runtime.config.byId.get(row.policy) : undefined) }));
        const next = page.next ? encodeCursor(page.next) : null;
        if (opts.json) process.stdout.write(`${JSON.stringify({ calls, next_cursor: next }, null, 2)}\n`);
        else process.stdout.write(table(calls) + (next ? `\nmore: --cursor ${next}\n` : ''));
      });
    });
}

function table(calls: CallRow[]): string {
  if (calls.length === 0) return 'no calls\n';
  const rows = [['call', 'status', 'policy', 'from → to', 'finished', 'apps']];
  for (const c of calls) {
    const apps = Object.entries(c.apps).map(([slug, status]) => `${slug}:${status}`).join(' ');
    rows.push([c.call_id, c.status, c.policy ?? '-', `${c.calling_number} → ${c.called_number}`, c.finished_at ?? '-', apps]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
