import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { deleteKeysWithPrefix } from '../src/store/delete-prefix';
import { numberFlag, round } from './lib';

/** What every phase of `npm run bench` shares: options, Redis, the receiver, the rows printed. */

function stringFlag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 || process.argv[at + 1] === undefined ? fallback : process.argv[at + 1]!;
}

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

export const opts = {
  concurrency: numberFlag('concurrency', 50),
  calls: numberFlag('calls', 20_000),
  calls3: numberFlag('calls3', 10_000),
  /** Throughput drains per side, alternating which goes first, so machine load falls on both alike. */
  rounds: numberFlag('rounds', 2),
  retryCalls: numberFlag('retry-calls', 10_000),
  /** Call records the list query is timed on (and, for comparison, 10,000). */
  listRecords: numberFlag('list-records', 1_000_000),
  ingestEvents: numberFlag('ingest-events', 20_000),
  ingestConcurrency: numberFlag('ingest-concurrency', 16),
  batchEvents: numberFlag('batch-events', 50_000),
  batchSize: numberFlag('batch-size', 100),
  batchConcurrency: numberFlag('batch-concurrency', 4),
  latencyCalls: numberFlag('latency-calls', 300),
  latencyRate: numberFlag('latency-rate', 50),
  backlog: numberFlag('backlog', 100_000),
  scaleCalls: numberFlag('scale-calls', 30_000),
  logLevel: stringFlag('log-level', 'info'),
  only: stringFlag('only', 'throughput,delivery,retries,ingest,latency,memory,scale,results').split(','),
  json: stringFlag('json', ''),
  /** Extra node flags for the measured processes: workers and API (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). */
  workerNodeArgs: stringFlag('worker-node-args', '').split(' ').filter(Boolean),
  /** The callhook CLI the worker and API processes run. */
  cli: stringFlag('cli', join(__dirname, '..', 'workers', 'cli.js')),
  /** Another callhook build's CLI, drained beside `cli` in the same rounds (before/after in one run). */
  compare: stringFlag('compare', ''),
};

/**
 * The node flags callhook ships its workers with (npm scripts, Dockerfile), given to the
 * baseline worker too so both sides run on the same runtime settings. The API ships without
 * them (shorter scavenge pauses for real-time answers), and so does the CURRI relay beside it.
 */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=64'];
export const nodeArgs = [...WORKER_NODE_FLAGS, ...opts.workerNodeArgs];
export const apiNodeArgs = [...opts.workerNodeArgs];

export const runId = `chbench-${process.pid}-${Date.now().toString(36)}`;
export const workDir = join(tmpdir(), runId);
export const nowUs = () => Number(process.hrtime.bigint() / 1000n);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Set once by main: the bench's own Redis connection and the receiver's URL. */
export const shared = { redis: undefined as unknown as Redis, receiverUrl: '' };

/** Child processes and key prefixes still alive, so a failed or interrupted run cleans up. */
export const children = new Set<ChildProcess>();
const prefixes = new Set<string>();

export function newPrefix(phase: string): string {
  const prefix = `${runId}-${phase}`;
  prefixes.add(prefix);
  return prefix;
}

export async function deletePrefix(prefix: string): Promise<void> {
  await deleteKeysWithPrefix(shared.redis, prefix);
  prefixes.delete(prefix);
}

export async function cleanup(): Promise<void> {
  for (const child of children) child.kill('SIGKILL');
  for (const prefix of [...prefixes]) await deletePrefix(prefix).catch(() => undefined);
}

interface Row {
  section: string;
  measure: string;
  value: number;
  unit: string;
  note?: string;
}
export const rows: Row[] = [];
export const summary: Record<string, number> = {};

export function record(section: string, measure: string, value: number, unit: string, note?: string): void {
  const row: Row = { section, measure, value: round(value, value >= 100 ? 0 : value >= 10 ? 1 : 3), unit, ...(note ? { note } : {}) };
  rows.push(row);
  process.stderr.write(`  ${section} | ${measure}: ${row.value} ${unit}${note ? ` (${note})` : ''}\n`);
}
