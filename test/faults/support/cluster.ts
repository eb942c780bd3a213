import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { DEFAULTS } from '../../../src/defaults';
import { startHarness } from '../../helpers/harness';
import { exited, spawnCli } from '../../helpers/processes';
import { redisUrl } from '../../helpers/redis';
import type { LedgerReceiver } from './ledger';
import { sleep } from './ledger';

export const FINAL = new Set(['completed', 'partial', 'failed', 'unmatched']);

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `callhook-faults-${name}-`));
}

export function writeTemp(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

type Cli = ReturnType<typeof spawnCli>;

/**
 * A fault case's fixture: its receiver started, an API (harness) on a prefix of its own with no
 * worker, since the case runs worker processes itself, and the environment those processes need.
 */
export async function startFaultCase(
  testFile: string,
  name: string,
  receiver: LedgerReceiver,
  policies: (receiverUrl: string) => string,
  workerEnv: Record<string, string>,
): Promise<{ h: Awaited<ReturnType<typeof startHarness>>; env: Record<string, string> }> {
  await receiver.start();
  const yaml = policies(receiver.url);
  const configPath = writeTemp(tempDir(name), 'policies.yaml', yaml);
  const h = await startHarness(testFile, yaml, { worker: false });
  return { h, env: { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath, ...workerEnv } };
}

/**
 * The child processes (callhook CLIs, redis-servers) a case starts, so afterAll can end every
 * one of them, by pid, even when the case failed half-way.
 */
export class Processes {
  private readonly children = new Set<ChildProcess>();

  cli(args: string[], env: Record<string, string>): Cli {
    const child = spawnCli(args, env);
    this.track(child);
    return child;
  }

  track<T extends ChildProcess>(child: T): T {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.children].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGKILL');
        await exited(child);
      }),
    );
  }
}

/**
 * How soon another worker must take over a dead or frozen worker's calls, with the default lock
 * settings: the lock lapses within its duration of the last renewal, and BullMQ's stalled check
 * (every stalledInterval) moves the call back to wait. Measured 9.8-15.6 s; the second stalled
 * interval is margin for a check that comes late on a loaded machine.
 */
export const TAKEOVER_BOUND_MS = DEFAULTS.lockDurationMs + 2 * DEFAULTS.stalledIntervalMs + 1000;

/** Waits until a worker process has logged that it started (it takes calls from then on). */
export async function waitWorkerStarted(child: Cli, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!child.output().includes('worker started')) {
    if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}): ${child.output()}`);
    if (Date.now() > deadline) throw new Error(`worker not started: ${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until `url` answers `GET /healthz` with 200. */
export async function waitHealthy(url: string, child?: Cli, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`process exited (${child.exitCode}): ${child.output()}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not healthy: ${child?.output() ?? ''}`);
    await sleep(50);
  }
}

/**
 * A redis-server of the test's own, on its own port, with the append-only file fsynced on
 * every write, so it can be stopped and started again without losing acknowledged writes.
 */
export class TestRedis {
  readonly dir = tempDir('redis');
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly processes: Processes,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(processes: Processes): Promise<TestRedis> {
    const redis = new TestRedis(await freePort(), processes);
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'];
    this.child = this.processes.track(spawn('redis-server', args, { stdio: 'ignore' }));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (this.ping()) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
      await sleep(50);
    }
  }

  ping(): boolean {
    return spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
  }

  /** SHUTDOWN NOSAVE: the AOF (fsync always) already holds every acknowledged write. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    spawnSync('redis-cli', ['-p', String(this.port), 'shutdown', 'nosave'], { stdio: 'ignore' });
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
    await Promise.race([exited(child), timer]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Posts events to `POST /v1/calls` in batches the way a real producer does: a refused or failed
 * request is retried (a `duplicate` answer means an earlier try got through). Returns the
 * call ids the API answered 202 for and how many requests had to be retried.
 */
export async function postAll(
  baseUrl: string,
  events: readonly { call_id: string }[],
  options: { batch?: number; parallel?: number; timeoutMs?: number; deadlineMs?: number; pauseMs?: number } = {},
): Promise<{ accepted: Set<string>; retried: number; duplicates: number }> {
  const batch = options.batch ?? 100;
  const accepted = new Set<string>();
  let retried = 0;
  let duplicates = 0;
  const batches: { call_id: string }[][] = [];
  for (let i = 0; i < events.length; i += batch) batches.push(events.slice(i, i + batch));
  const deadline = Date.now() + (options.deadlineMs ?? 60_000);
  let next = 0;
  const lane = async () => {
    while (next < batches.length) {
      const items = batches[next++] ?? [];
      if (options.pauseMs) await sleep(options.pauseMs);
      for (;;) {
        try {
          const response = await fetch(`${baseUrl}/v1/calls`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(items),
            signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
          });
          const body = (await response.json()) as { calls?: { call_id: string; status: string }[] };
          if (response.status === 202 && body.calls) {
            for (const call of body.calls) {
              accepted.add(call.call_id);
              if (call.status === 'duplicate') duplicates += 1;
            }
            break;
          }
          if (response.status < 500) throw new Error(`POST /v1/calls answered ${response.status}: ${JSON.stringify(body)}`);
        } catch (error) {
          if ((error as Error).message.startsWith('POST /v1/calls answered')) throw error;
        }
        retried += 1;
        if (Date.now() > deadline) throw new Error('producer: gave up retrying');
        await sleep(100);
      }
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 2 }, lane));
  return { accepted, retried, duplicates };
}

/** Each call's status straight from its record (`<prefix>:call:<id>`), in one round trip. */
export async function statuses(redis: Redis, prefix: string, callIds: readonly string[]): Promise<Map<string, string | null>> {
  const pipeline = redis.pipeline();
  for (const id of callIds) pipeline.hget(`${prefix}:call:${id}`, 'status');
  const replies = (await pipeline.exec()) ?? [];
  return new Map(callIds.map((id, i) => [id, (replies[i]?.[1] as string | null) ?? null]));
}

/** Polls until every call is final or `timeoutMs` passes; returns the last statuses. */
export async function waitAllFinal(redis: Redis, prefix: string, callIds: readonly string[], timeoutMs: number): Promise<Map<string, string | null>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await statuses(redis, prefix, callIds);
    const open = [...current.values()].filter((s) => !s || !FINAL.has(s)).length;
    if (open === 0 || Date.now() > deadline) return current;
    await sleep(250);
  }
}

/** Jobs BullMQ still holds for the calls queue (any of these at the end is a stuck call). */
export async function openJobs(url: string, prefix: string): Promise<number> {
  const queue = new Queue('calls', { connection: { url } as never, prefix });
  try {
    const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  } finally {
    await queue.close();
  }
}

export interface Tally {
  calls: number;
  lost: number;
  resentAfterSuccess: number;
  /** Repeats after a 2xx the client never read (it timed out or died first): at-least-once, not a bug. */
  lostInTransit: number;
  stuck: number;
  duplicatesInFlight: number;
  lostIds: string[];
  stuckIds: string[];
}

/**
 * The counts every case reports, from the receiver's side. Lost: an accepted call with no
 * record, or an app of it the receiver never answered 2xx (when `mustSucceed`). Stuck: a call
 * whose record is not final. Re-sent after success: a key requested again after its 2xx answer
 * had been fully written.
 */
export function tally(
  receiver: LedgerReceiver,
  callIds: readonly string[],
  final: Map<string, string | null>,
  options: { mustSucceed?: readonly string[] } = {},
): Tally {
  const lostIds: string[] = [];
  const stuckIds: string[] = [];
  for (const id of callIds) {
    const status = final.get(id);
    if (!status) {
      lostIds.push(id);
      continue;
    }
    if (!FINAL.has(status)) stuckIds.push(id);
    if ((options.mustSucceed ?? []).some((slug) => !receiver.succeeded(`${id}.${slug}`))) lostIds.push(id);
  }
  return {
    calls: callIds.length,
    lost: new Set(lostIds).size,
    resentAfterSuccess: receiver.resentAfterSuccess().length,
    lostInTransit: receiver.answersLostInTransit().length,
    stuck: stuckIds.length,
    duplicatesInFlight: receiver.duplicatesInFlight(),
    lostIds: lostIds.slice(0, 5),
    stuckIds: stuckIds.slice(0, 5),
  };
}

/** One line per case on stdout, e.g. `SIGKILL mid-run: 2000 calls, lost 0, ...`. */
export function report(line: string): void {
  // Synchronous, so the line is out before Jest (forceExit) ends the process.
  writeSync(1, `\n[faults] ${line}\n`);
}

/** The standard counts; `repeats` names requests repeated before success (default: duplicates-in-flight). */
export function tallyLine(t: Tally, repeats = 'duplicates-in-flight'): string {
  const lost = t.lostInTransit > 0 ? ` (+${t.lostInTransit} repeated after a 2xx the client never read)` : '';
  return `${t.calls} calls, lost ${t.lost}, re-sent after success ${t.resentAfterSuccess}${lost}, stuck ${t.stuck}, ${repeats} ${t.duplicatesInFlight}`;
}

export function connect(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}
