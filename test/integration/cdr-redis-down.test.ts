import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { createCallsQueue, jobIdFor } from '../../src/queue/calls-queue';
import { CDR_TEST_POLICIES, syntheticRows, writeCdrFile } from '../helpers/cdr-generator';
import { startPrivateRedis } from '../helpers/private-redis';
import { logLines, until } from '../helpers/processes';
import { uniquePrefix } from '../helpers/redis';

/**
 * Redis going away under `ingest-cdr`: the file fails and counts as unfinished (exit 1, with the
 * summary) in bounded time, a stop signal is not held up by it, and the next run resumes from the
 * checkpoint with every call queued once. Each test has a redis-server of its own to take away.
 */
const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/workers/cli.js');

let dir: string;
let prefix: string;
const redises: { stop(): Promise<void> }[] = [];
const children: ChildProcess[] = [];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, 'ingest-cdr', ...args], {
    cwd: ROOT,
    env: { ...process.env, CALLHOOK_PREFIX: prefix, CALLHOOK_CONFIG: join(dir, 'policies.yaml'), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  const seen: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const s of seen) if (stdout.includes(s.text)) s.resolve();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Result>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  /** Resolves once stdout holds `text`. */
  const printed = (text: string) => new Promise<void>((res) => (stdout.includes(text) ? res() : seen.push({ text, resolve: res })));
  return { child, done, printed };
}

/** Waits until the file's checkpoint (`line:offset`) is past `line`; returns the line it holds. */
async function checkpointPast(client: Redis, line: number): Promise<number> {
  let at = 0;
  await until(async () => {
    const [saved] = Object.values(await client.hgetall(`${prefix}:cdr:progress`));
    at = Number(saved?.split(':')[0] ?? 0);
    return at > line;
  });
  return at;
}

async function privateRedis(args: string[] = [], port?: number) {
  const redis = await startPrivateRedis(args, port);
  redises.push(redis);
  return redis;
}

beforeEach(async () => {
  prefix = uniquePrefix(__filename);
  dir = await mkdtemp(join(tmpdir(), 'cdr-redis-down-'));
  await writeFile(join(dir, 'policies.yaml'), CDR_TEST_POLICIES);
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); // a test that failed left it waiting
  for (const redis of redises.splice(0)) await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

it('one-shot: Redis going away mid-file ends the run at once with exit 1 and its summary; the next run resumes and queues each call once', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const data = await mkdtemp(join(dir, 'redis-'));
  // Appended and synced on every write: what was queued before the kill is there after the restart.
  const persistent = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', data];
  const first = await privateRedis(persistent);
  const rows = syntheticRows(2000, 85, 918_000);
  await writeCdrFile(join(drop, 'cdr_Gen_14_202601010000_1'), rows);

  const run = cli([drop, '--batch', '100'], { REDIS_URL: first.url, CALLHOOK_CDR_BATCH_DELAY_MS: '100' });
  const checkpoint = await checkpointPast(first.client, 300);
  await first.stop();
  const stoppedAt = Date.now();
  const result = await run.done;
  // Well inside the 10 s command timeout: a reply lost with its connection is not waited for.
  expect(Date.now() - stoppedAt).toBeLessThan(5000);
  expect(result.code).toBe(1);
  const logs = logLines(result.stdout);
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'cdr file failed: Redis unavailable; it resumes from its checkpoint when tried again', cause: 'redis' }));
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 0, unfinished: 1 });

  const again = await privateRedis(persistent, first.port);
  const second = await cli([drop], { REDIS_URL: again.url }).done;
  expect(second.code).toBe(0);
  const secondLogs = logLines(second.stdout);
  expect(secondLogs.find((l) => l.msg === 'cdr file ingested')?.resumed_from_line).toBeGreaterThanOrEqual(checkpoint);
  expect(secondLogs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, unfinished: 0 });
  const after = createCallsQueue(again.client, prefix);
  try {
    expect(await after.getWaitingCount()).toBe(2000);
    expect(new Set((await after.getWaiting(0, 3000)).map((j) => j.id))).toEqual(new Set(rows.map((r) => jobIdFor(r.expected?.call_id ?? ''))));
    expect(await again.client.keys(`${prefix}:call:*`)).toHaveLength(2000);
  } finally {
    await after.close();
  }
}, 60_000);

it('--watch: SIGTERM while Redis is down stops it at once, with its summary and exit 1', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const redis = await privateRedis();
  await writeCdrFile(join(drop, 'cdr_Gen_15_202601010000_1'), syntheticRows(2000, 86, 919_000));
  const queue = createCallsQueue(redis.client, prefix);
  const run = cli([drop, '--watch', '--settle', '100ms', '--interval', '50ms', '--no-cmr', '--batch', '100'], { REDIS_URL: redis.url, CALLHOOK_CDR_BATCH_DELAY_MS: '100' });
  await until(async () => (await queue.getWaitingCount()) >= 300);
  await queue.close();
  await redis.stop();
  await run.printed('cdr file failed');
  run.child.kill('SIGTERM');
  const signalledAt = Date.now();
  const result = await run.done;
  expect(Date.now() - signalledAt).toBeLessThan(5000);
  expect(result.code).toBe(1);
  expect(logLines(result.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', unfinished: 1 });
}, 60_000);

it('--watch: a file Redis went away under resumes from its checkpoint once Redis is back, each call queued once', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const data = await mkdtemp(join(dir, 'redis-'));
  const persistent = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', data];
  const first = await privateRedis(persistent);
  const rows = syntheticRows(1500, 88, 921_000);
  await writeCdrFile(join(drop, 'cdr_Gen_17_202601010000_1'), rows);
  const run = cli([drop, '--watch', '--settle', '100ms', '--interval', '50ms', '--no-cmr', '--batch', '100'], { REDIS_URL: first.url, CALLHOOK_CDR_BATCH_DELAY_MS: '50' });
  const checkpoint = await checkpointPast(first.client, 300);
  await first.stop();
  await run.printed('cdr file failed');
  const again = await privateRedis(persistent, first.port);
  await run.printed('"msg":"cdr file ingested"');
  run.child.kill('SIGTERM');
  const result = await run.done;
  expect(result.code).toBe(0);
  const logs = logLines(result.stdout);
  expect(logs.find((l) => l.msg === 'cdr file ingested')?.resumed_from_line).toBeGreaterThanOrEqual(checkpoint);
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, unfinished: 0 });
  const after = createCallsQueue(again.client, prefix);
  try {
    expect(await after.getWaitingCount()).toBe(1500);
    expect(new Set((await after.getWaiting(0, 2000)).map((j) => j.id))).toEqual(new Set(rows.map((r) => jobIdFor(r.expected?.call_id ?? ''))));
  } finally {
    await after.close();
  }
}, 60_000);

it('a Redis that stops answering fails the file after CALLHOOK_CDR_REDIS_TIMEOUT', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const redis = await privateRedis();
  await writeCdrFile(join(drop, 'cdr_Gen_16_202601010000_1'), syntheticRows(2000, 87, 920_000));
  const queue = createCallsQueue(redis.client, prefix);
  const run = cli([drop, '--batch', '100'], { REDIS_URL: redis.url, CALLHOOK_CDR_BATCH_DELAY_MS: '100', CALLHOOK_CDR_REDIS_TIMEOUT: '1s' });
  try {
    await until(async () => (await queue.getWaitingCount()) >= 300);
    process.kill(redis.pid, 'SIGSTOP'); // its connections stay open: only a timeout ends the wait
    const stoppedAt = Date.now();
    const result = await run.done;
    expect(Date.now() - stoppedAt).toBeLessThan(6000);
    expect(result.code).toBe(1);
    const logs = logLines(result.stdout);
    expect(logs).toContainEqual(expect.objectContaining({ cause: 'redis', err: 'Command timed out' }));
    expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', unfinished: 1 });
  } finally {
    process.kill(redis.pid, 'SIGCONT');
    await queue.close();
  }
}, 60_000);
