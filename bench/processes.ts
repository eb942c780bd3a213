import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { QUEUE_NAME } from '../src/queue/calls-queue';
import { children, nodeArgs, opts, REDIS_URL, shared, sleep, workDir } from './context';

/** The measured processes: callhook workers and API, baseline workers, and what they cost. */

const BASELINE = join(__dirname, 'baseline-worker.js');

export interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

export function track(child: ChildProcess): Proc {
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => children.delete(child), () => undefined);
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

let logCount = 0;
export function spawnLogged(args: string[], env: NodeJS.ProcessEnv): { proc: Proc; log: string } {
  const log = join(workDir, `child-${++logCount}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return { proc: track(child), log };
}

/** Waits until `file` contains `text` (the child logs it when ready); returns the matching line. */
export async function waitForLine(file: string, text: string, child: ChildProcess, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.includes(text));
    if (line) return line;
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode} before "${text}"; see ${file}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}" in ${file}`);
    await sleep(25);
  }
}

/** Per CLI: whether it loads the full bench policies (an older build may refuse newer fields). */
const acceptsFullPolicies = new Map<string, boolean>();

function policiesFor(cli: string): string {
  const full = join(workDir, 'policies.yaml');
  let accepts = acceptsFullPolicies.get(cli);
  if (accepts === undefined) {
    accepts = spawnSync(process.execPath, [cli, 'config', 'check', full], { stdio: 'ignore' }).status === 0;
    acceptsFullPolicies.set(cli, accepts);
  }
  return accepts ? full : join(workDir, 'policies-compared.yaml');
}

/**
 * The environment a callhook process of the bench runs with. A build that refuses the full
 * policies file (`--cli` or `--compare` set to an older one) gets the policies it knows
 * (see policiesYaml).
 */
export function callhookEnv(prefix: string, cli = opts.cli): NodeJS.ProcessEnv {
  return {
    REDIS_URL,
    CALLHOOK_PREFIX: prefix,
    CALLHOOK_CONFIG: policiesFor(cli),
    CALLHOOK_CONCURRENCY: String(opts.concurrency),
    LOG_LEVEL: opts.logLevel,
  };
}

export async function startCallhookWorkers(prefix: string, count: number, cli = opts.cli): Promise<Proc[]> {
  const procs: Proc[] = [];
  for (let i = 0; i < count; i++) {
    const { proc, log } = spawnLogged([...nodeArgs, cli, 'worker'], callhookEnv(prefix, cli));
    procs.push(proc);
    await waitForWorkers(prefix, QUEUE_NAME, i + 1, proc.child, log);
  }
  return procs;
}

export async function startBaselineWorkers(prefix: string, queueName: string, requests: number, count: number): Promise<Proc[]> {
  const procs: Proc[] = [];
  for (let i = 0; i < count; i++) {
    const { proc, log } = spawnLogged([...nodeArgs, BASELINE], {
      REDIS_URL,
      BENCH_PREFIX: prefix,
      BENCH_QUEUE: queueName,
      BENCH_CONCURRENCY: String(opts.concurrency),
      BENCH_URL: `${shared.receiverUrl}/baseline?phone=%2B1%20%28555%29%20123-4567&source=callhook`,
      BENCH_REQUESTS: String(requests),
    });
    procs.push(proc);
    await waitForWorkers(prefix, queueName, i + 1, proc.child, log);
  }
  return procs;
}

/** Waits until `count` BullMQ workers are connected to the queue (their blocking connections are named). */
async function waitForWorkers(prefix: string, queueName: string, count: number, child: ChildProcess, log: string): Promise<void> {
  const queue = new Queue(queueName, { connection: shared.redis, prefix });
  try {
    const deadline = Date.now() + 30_000;
    while ((await queue.getWorkersCount()) < count) {
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}; see ${log}: ${readFileSync(log, 'utf8').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for worker ${count}; see ${log}`);
      await sleep(25);
    }
  } finally {
    await queue.close();
  }
}

const CLOCK_TICKS = 100;

/** CPU time a process has used so far (user + system), in ms. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** Peak and current resident memory of a process, from /proc (bytes). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
