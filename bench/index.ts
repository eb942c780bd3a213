/**
 * `npm run bench`: callhook's throughput, ingest rate, latency, memory and scale, side by side
 * with a raw BullMQ + axios baseline measured in the same run, printed as a table and as JSON.
 *
 *   npm run bench -- [--concurrency 50] [--calls 20000] [--calls3 10000] [--rounds 2]
 *                    [--ingest-events 20000] [--ingest-concurrency 16] [--batch-events 50000] [--batch-concurrency 4]
 *                    [--latency-calls 300] [--latency-rate 50] [--backlog 100000] [--scale-calls 30000]
 *                    [--log-level info] [--only throughput,ingest,latency,memory,scale] [--json out.json]
 *
 * Every measured worker (callhook's `node dist/workers/cli.js worker` and the baseline's
 * bench/baseline-worker.js) and the API (`cli.js api`) runs in a process of its own; the receiver
 * (bench/receiver.js) too. This process only fills queues, generates HTTP load and watches the
 * clock. Throughput is a drain: the queue is paused, filled, the worker started, then the queue
 * is resumed and timed until no job is left (callhook removes a job only after the call record
 * is final). Every phase uses its own Redis key prefix and deletes it afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CallEvent } from '../src/model/call';
import { createCallsQueue, jobIdFor, QUEUE_NAME } from '../src/queue/calls-queue';
import { CallProducer } from '../src/queue/producer';
import { createRedis } from '../src/runtime';
import { CallStore } from '../src/store/call-store';
import { deleteKeysWithPrefix } from '../src/store/delete-prefix';
import { numberFlag, round, startReceiver, summarize } from './lib';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const BASELINE = join(__dirname, 'baseline-worker.js');

function stringFlag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 || process.argv[at + 1] === undefined ? fallback : process.argv[at + 1]!;
}

const opts = {
  concurrency: numberFlag('concurrency', 50),
  calls: numberFlag('calls', 20_000),
  calls3: numberFlag('calls3', 10_000),
  /** Throughput drains per side, alternating which goes first, so machine load falls on both alike. */
  rounds: numberFlag('rounds', 2),
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
  only: stringFlag('only', 'throughput,ingest,latency,memory,scale').split(','),
  json: stringFlag('json', ''),
  /** Extra node flags for the measured processes: workers and API (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). */
  workerNodeArgs: stringFlag('worker-node-args', '').split(' ').filter(Boolean),
  /** The callhook CLI the worker and API processes run (another build, to compare). */
  cli: stringFlag('cli', join(__dirname, '..', 'workers', 'cli.js')),
};
const CLI = opts.cli;
/**
 * The node flags callhook ships with (npm scripts, Dockerfile), given to the baseline worker
 * too so both sides run on the same runtime settings.
 */
const SHIPPED_NODE_FLAGS = ['--max-semi-space-size=64'];
const nodeArgs = [...SHIPPED_NODE_FLAGS, ...opts.workerNodeArgs];

const runId = `chbench-${process.pid}-${Date.now().toString(36)}`;
const workDir = join(tmpdir(), runId);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set<ChildProcess>();
const prefixes = new Set<string>();
let redis: Redis;
let receiverUrl = '';

interface Row {
  section: string;
  measure: string;
  value: number;
  unit: string;
  note?: string;
}
const rows: Row[] = [];
const summary: Record<string, number> = {};
function record(section: string, measure: string, value: number, unit: string, note?: string): void {
  const row: Row = { section, measure, value: round(value, value >= 100 ? 0 : value >= 10 ? 1 : 3), unit, ...(note ? { note } : {}) };
  rows.push(row);
  process.stderr.write(`  ${section} | ${measure}: ${row.value} ${unit}${note ? ` (${note})` : ''}\n`);
}

// ---------------------------------------------------------------- events and policies

const EVENT_BASE = { calling_number: '+1 (555) 123-4567', called_number: '1000', calling_name: "O'Brien & Sons", calling_devicename: 'SEP001122334455', trigger_point_type: 'CallEnded' };
const event = (callId: string, policy: string): CallEvent => ({ ...EVENT_BASE, call_id: callId, policy, timestamp: new Date().toISOString() });

/** bench1: one app with templated URL, query, headers and body; bench3: two more from its response. */
function policiesYaml(url: string): string {
  const crm = `
      - name: CRM Lookup
        method: POST
        url: "${url}/crm/contacts/{{ event.calling_number }}"
        query: { phone: "{{ event.calling_number }}", source: callhook }
        headers: { X-Caller: "{{ event.calling_name }}", X-Device: "{{ event.calling_devicename }}" }
        timeout: 5s
        body: { phone: "{{ event.calling_number }}", called: "{{ event.called_number }}", name: "{{ event.calling_name }}", at: "{{ event.timestamp }}" }`;
  return `policies:
  - id: bench1
    apps:${crm}
  - id: bench3
    apps:${crm}
      - name: Ticket
        method: POST
        url: "${url}/tickets/{{ app_data.crm-lookup.data.customer_id }}"
        headers: { X-Customer: "{{ app_data.crm-lookup.data.customer_id }}" }
        timeout: 5s
        body: { customer: "{{ app_data.crm-lookup.data.customer_id }}", name: "{{ app_data.crm-lookup.data.name }}", caller: "{{ event.calling_number }}" }
      - name: Slack Notify
        method: POST
        url: "${url}/chat/messages"
        when: "{{ app_data.crm-lookup.data.vip }}"
        timeout: 5s
        body: { text: "VIP call from {{ app_data.crm-lookup.data.name }} ({{ app_data.crm-lookup.data.company }}) to {{ event.called_number }}" }
`;
}

// ---------------------------------------------------------------- processes

interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

function track(child: ChildProcess): Proc {
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

/** Waits until `file` contains `text` (the child logs it when ready); returns the matching line. */
async function waitForLine(file: string, text: string, child: ChildProcess, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.includes(text));
    if (line) return line;
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode} before "${text}"; see ${file}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}" in ${file}`);
    await sleep(25);
  }
}

let logCount = 0;
function spawnLogged(args: string[], env: NodeJS.ProcessEnv): { proc: Proc; log: string } {
  const log = join(workDir, `child-${++logCount}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return { proc: track(child), log };
}

async function startCallhookWorkers(prefix: string, count: number): Promise<Proc[]> {
  const procs: Proc[] = [];
  for (let i = 0; i < count; i++) {
    const { proc, log } = spawnLogged([...nodeArgs, CLI, 'worker'], {
      REDIS_URL,
      CALLHOOK_PREFIX: prefix,
      CALLHOOK_CONFIG: join(workDir, 'policies.yaml'),
      CALLHOOK_CONCURRENCY: String(opts.concurrency),
      LOG_LEVEL: opts.logLevel,
    });
    procs.push(proc);
    await waitForWorkers(prefix, QUEUE_NAME, i + 1, proc.child, log);
  }
  return procs;
}

async function startBaselineWorkers(prefix: string, queueName: string, requests: number, count: number): Promise<Proc[]> {
  const procs: Proc[] = [];
  for (let i = 0; i < count; i++) {
    const { proc, log } = spawnLogged([...nodeArgs, BASELINE], {
      REDIS_URL,
      BENCH_PREFIX: prefix,
      BENCH_QUEUE: queueName,
      BENCH_CONCURRENCY: String(opts.concurrency),
      BENCH_URL: `${receiverUrl}/baseline?phone=%2B1%20%28555%29%20123-4567&source=callhook`,
      BENCH_REQUESTS: String(requests),
    });
    procs.push(proc);
    await waitForWorkers(prefix, queueName, i + 1, proc.child, log);
  }
  return procs;
}

/** CPU time a process has used so far (user + system), in ms. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

/** Waits until `count` BullMQ workers are connected to the queue (their blocking connections are named). */
async function waitForWorkers(prefix: string, queueName: string, count: number, child: ChildProcess, log: string): Promise<void> {
  const queue = new Queue(queueName, { connection: redis, prefix });
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

/** Peak and current resident memory of a process, from /proc (bytes). */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// ---------------------------------------------------------------- redis helpers

function newPrefix(phase: string): string {
  const prefix = `${runId}-${phase}`;
  prefixes.add(prefix);
  return prefix;
}

async function deletePrefix(prefix: string): Promise<void> {
  await deleteKeysWithPrefix(redis, prefix);
  prefixes.delete(prefix);
}

/** CPU time the Redis server has used so far (INFO cpu, user + sys), in ms: every client's work counts. */
async function redisCpuMs(): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
}

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

const PENDING_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/** Times the drain of `n` calls and the CPU the worker processes and the Redis server spent on it. */
async function measureDrain(
  queue: Queue,
  pids: number[],
  n: number,
  onTick?: () => void,
): Promise<Pick<DrainResult, 'seconds' | 'callsPerSecond' | 'cpuMsPerCall' | 'redisCpuMsPerCall'>> {
  const workersCpuMs = () => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const cpuBefore = workersCpuMs();
  const redisCpuBefore = await redisCpuMs();
  const seconds = await timeDrain(queue, onTick);
  return {
    seconds,
    callsPerSecond: n / seconds,
    cpuMsPerCall: (workersCpuMs() - cpuBefore) / n,
    redisCpuMsPerCall: ((await redisCpuMs()) - redisCpuBefore) / n,
  };
}

/** Resumes the (paused, filled) queue and waits until no job is left in it; returns seconds. */
async function timeDrain(queue: Queue, onTick?: () => void): Promise<number> {
  const t0 = nowUs();
  await queue.resume();
  for (;;) {
    const counts = await queue.getJobCounts(...PENDING_STATES);
    onTick?.();
    if (PENDING_STATES.every((s) => (counts[s] ?? 0) === 0)) break;
    await sleep(10);
  }
  const seconds = (nowUs() - t0) / 1e6;
  const failed = (await queue.getJobCounts('failed')).failed ?? 0;
  if (failed > 0) throw new Error(`${failed} jobs failed`);
  return seconds;
}

async function receiverStats(): Promise<{ total: number; distinct: number; duplicates: number }> {
  return (await getJson(`${receiverUrl}/__stats`)) as { total: number; distinct: number; duplicates: number };
}

async function resetReceiver(): Promise<void> {
  await request(`${receiverUrl}/__reset`, 'POST', '');
}

// ---------------------------------------------------------------- HTTP load generator

const loadAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function request(url: string, method: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: loadAgent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function getJson(url: string): Promise<unknown> {
  const { text } = await request(url, 'GET', '');
  return JSON.parse(text) as unknown;
}

// ---------------------------------------------------------------- phases

async function fillCallhook(prefix: string, n: number, policy: string, tag: string) {
  const store = new CallStore(redis, prefix, 86_400_000);
  const queue = createCallsQueue(redis, prefix);
  const producer = new CallProducer(queue, store);
  await queue.pause();
  const t0 = nowUs();
  for (let i = 0; i < n; i += 1000) {
    const events: CallEvent[] = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) events.push(event(`${tag}-${j}`, policy));
    await producer.enqueue(events);
  }
  return { queue, store, enqueueSeconds: (nowUs() - t0) / 1e6 };
}

/** Every call's status after a drain, counted. */
async function statuses(store: CallStore, n: number, tag: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i += 5000) {
    const pipeline = redis.pipeline();
    for (let j = i; j < Math.min(n, i + 5000); j++) pipeline.hget(store.key(`${tag}-${j}`), 'status');
    for (const [, status] of (await pipeline.exec()) ?? []) counts[String(status)] = (counts[String(status)] ?? 0) + 1;
  }
  return counts;
}

interface DrainResult {
  seconds: number;
  callsPerSecond: number;
  /** Worker processes' CPU time per call, in ms (startup excluded). */
  cpuMsPerCall: number;
  /** Redis server CPU time per call over the drain, in ms. */
  redisCpuMsPerCall: number;
  enqueueSeconds?: number;
  peakRss?: number;
  redisBytesPerCall?: number;
  callKeyBytes?: number;
  jobKeyBytes?: number;
}

async function drainCallhook(n: number, apps: 1 | 3, workers: number, options: { memory?: boolean } = {}): Promise<DrainResult> {
  const prefix = newPrefix(`ch${apps}x${workers}`);
  const tag = `c${apps}w${workers}`;
  const memBefore = options.memory ? await usedMemory() : 0;
  const { queue, store, enqueueSeconds } = await fillCallhook(prefix, n, `bench${apps}`, tag);
  const result: Partial<DrainResult> = { enqueueSeconds };
  if (options.memory) {
    result.redisBytesPerCall = ((await usedMemory()) - memBefore) / n;
    result.callKeyBytes = Number(await redis.call('MEMORY', 'USAGE', store.key(`${tag}-0`), 'SAMPLES', '0'));
    result.jobKeyBytes = Number(await redis.call('MEMORY', 'USAGE', `${prefix}:calls:${jobIdFor(`${tag}-0`)}`, 'SAMPLES', '0'));
  }
  await resetReceiver();
  const procs = await startCallhookWorkers(prefix, workers);
  let peakRss = 0;
  const pids = procs.map((p) => p.child.pid!);
  const sampleRss = () => {
    for (const pid of pids) peakRss = Math.max(peakRss, memoryOf(pid).rss);
  };
  const drained = await measureDrain(queue, pids, n, options.memory ? sampleRss : undefined);
  result.peakRss = Math.max(peakRss, ...pids.map((pid) => memoryOf(pid).hwm));
  await Promise.all(procs.map((p) => p.stop()));
  const stats = await receiverStats();
  const finals = await statuses(store, n, tag);
  await queue.close();
  await deletePrefix(prefix);
  if (stats.total !== n * apps || stats.duplicates !== 0 || finals.completed !== n) {
    throw new Error(`callhook ${apps}-app drain incomplete: receiver ${JSON.stringify(stats)}, statuses ${JSON.stringify(finals)}`);
  }
  return { ...result, ...drained };
}

async function drainBaseline(n: number, requests: number, workers = 1): Promise<DrainResult> {
  const prefix = newPrefix(`base${requests}x${workers}`);
  const queue = new Queue('calls', { connection: redis, prefix, defaultJobOptions: { removeOnComplete: true } });
  await queue.pause();
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name: 'calls', data: { call_id: `b-${j}` }, opts: { jobId: `b-${j}` } });
    await queue.addBulk(jobs);
  }
  await resetReceiver();
  const procs = await startBaselineWorkers(prefix, 'calls', requests, workers);
  const pids = procs.map((p) => p.child.pid!);
  const drained = await measureDrain(queue, pids, n);
  const peakRss = Math.max(...pids.map((pid) => memoryOf(pid).hwm));
  await Promise.all(procs.map((p) => p.stop()));
  const stats = await receiverStats();
  await queue.close();
  await deletePrefix(prefix);
  if (stats.total !== n * requests) throw new Error(`baseline drain incomplete: receiver ${JSON.stringify(stats)}`);
  return { ...drained, peakRss };
}

async function throughput(): Promise<void> {
  const section = `throughput (drain, concurrency ${opts.concurrency}, 1 worker process)`;
  for (const apps of [1, 3] as const) {
    const n = apps === 1 ? opts.calls : opts.calls3;
    const size = Math.ceil(n / opts.rounds);
    process.stderr.write(`throughput, ${apps} app(s), ${n} calls in ${opts.rounds} rounds...\n`);
    const base: DrainResult[] = [];
    const ch: DrainResult[] = [];
    for (let r = 0; r < opts.rounds; r += 1) {
      // Alternating the order makes a load spike from elsewhere fall on both sides alike.
      if (r % 2 === 0) {
        base.push(await drainBaseline(size, apps));
        ch.push(await drainCallhook(size, apps, 1));
      } else {
        ch.push(await drainCallhook(size, apps, 1));
        base.push(await drainBaseline(size, apps));
      }
    }
    const b = combine(base, size);
    const c = combine(ch, size);
    const what = apps === 1 ? '1 app per call' : '3 apps per call';
    const total = size * opts.rounds;
    record(section, `baseline: BullMQ + axios, ${apps} POST/job`, b.callsPerSecond, 'calls/s', `${total} jobs in ${round(b.seconds, 2)} s`);
    record(section, `callhook, ${what}`, c.callsPerSecond, 'calls/s', `${total} calls in ${round(c.seconds, 2)} s`);
    record(section, `callhook / baseline, ${what}`, c.callsPerSecond / b.callsPerSecond, 'x', 'goal >= 0.9');
    record(section, `worker CPU per call: baseline, ${apps} POST/job`, b.cpuMsPerCall, 'ms');
    record(section, `worker CPU per call: callhook, ${what}`, c.cpuMsPerCall, 'ms');
    record(section, `Redis CPU per call: baseline, ${apps} POST/job`, b.redisCpuMsPerCall, 'ms');
    record(section, `Redis CPU per call: callhook, ${what}`, c.redisCpuMsPerCall, 'ms');
    summary[`ratio_${apps}app`] = round(c.callsPerSecond / b.callsPerSecond, 3);
    if (apps === 1) {
      record(section, 'worker peak RSS: baseline', b.peakRss! / 2 ** 20, 'MiB');
      record(section, 'worker peak RSS: callhook', c.peakRss! / 2 ** 20, 'MiB');
    }
  }
}

/** Drains of `size` calls each, as one: time summed, per-call figures averaged, peak RSS the highest. */
function combine(results: DrainResult[], size: number): DrainResult {
  const seconds = results.reduce((sum, r) => sum + r.seconds, 0);
  const mean = (pick: (r: DrainResult) => number) => results.reduce((sum, r) => sum + pick(r), 0) / results.length;
  return {
    seconds,
    callsPerSecond: (size * results.length) / seconds,
    cpuMsPerCall: mean((r) => r.cpuMsPerCall),
    redisCpuMsPerCall: mean((r) => r.redisCpuMsPerCall),
    peakRss: Math.max(...results.map((r) => r.peakRss ?? 0)),
  };
}

async function ingest(): Promise<void> {
  const section = 'ingest (POST /v1/calls, API in its own process)';
  const prefix = newPrefix('api');
  const { proc, log } = spawnLogged([...nodeArgs, CLI, 'api'], {
    REDIS_URL,
    CALLHOOK_PREFIX: prefix,
    CALLHOOK_CONFIG: join(workDir, 'policies.yaml'),
    CALLHOOK_PORT: '0',
    LOG_LEVEL: opts.logLevel,
  });
  const line = await waitForLine(log, 'api listening', proc.child);
  const url = `${(JSON.parse(line) as { url: string }).url}/v1/calls`;
  let seq = 0;
  const body = (count: number) => {
    const events = Array.from({ length: count }, () => ({ ...EVENT_BASE, call_id: `i-${++seq}`, policy: 'bench1' }));
    return JSON.stringify(count === 1 ? events[0] : events);
  };
  /** `total` events in requests of `size`, `concurrency` requests in flight; returns seconds and per-request latencies. */
  const load = async (total: number, size: number, concurrency: number) => {
    const latencies: number[] = [];
    let sent = 0;
    const t0 = nowUs();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (sent < total) {
          const count = Math.min(size, total - sent);
          sent += count;
          const text = body(count);
          const start = nowUs();
          const response = await request(url, 'POST', text);
          latencies.push((nowUs() - start) / 1000);
          if (response.status !== 202) throw new Error(`POST /v1/calls: ${response.status} ${response.text.slice(0, 200)}`);
        }
      }),
    );
    return { seconds: (nowUs() - t0) / 1e6, latency: summarize(latencies) };
  };
  process.stderr.write(`ingest: ${opts.ingestEvents} single events, ${opts.batchEvents} in batches of ${opts.batchSize}...\n`);
  await load(1000, 1, opts.ingestConcurrency); // warm-up
  const single = await load(opts.ingestEvents, 1, opts.ingestConcurrency);
  const batched = await load(opts.batchEvents, opts.batchSize, opts.batchConcurrency);
  await proc.stop();
  const queue = createCallsQueue(redis, prefix);
  const waiting = (await queue.getJobCounts('waiting')).waiting ?? 0;
  await queue.close();
  await deletePrefix(prefix);
  if (waiting !== seq) throw new Error(`ingest: ${seq} events sent, ${waiting} queued`);
  record(section, `single events, ${opts.ingestConcurrency} requests in flight`, opts.ingestEvents / single.seconds, 'events/s', `request p50 ${round(single.latency.p50, 2)} ms, p99 ${round(single.latency.p99, 2)} ms`);
  record(section, `batches of ${opts.batchSize}, ${opts.batchConcurrency} requests in flight`, opts.batchEvents / batched.seconds, 'events/s', `request p50 ${round(batched.latency.p50, 1)} ms, p99 ${round(batched.latency.p99, 1)} ms`);
}

async function latency(): Promise<void> {
  const section = `latency (enqueue -> first request at the receiver, ${opts.latencyRate} calls/s)`;
  const warmup = 50;
  const total = warmup + opts.latencyCalls;
  const interval = 1000 / opts.latencyRate;
  const measure = async (enqueue: (i: number) => Promise<unknown>, key: (i: number) => string): Promise<number[]> => {
    await resetReceiver();
    const sentAt: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = t0 + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      sentAt.push(nowUs());
      await enqueue(i);
    }
    const deadline = Date.now() + 30_000;
    let times: Record<string, number> = {};
    while (Date.now() < deadline) {
      times = (await getJson(`${receiverUrl}/__times`)) as Record<string, number>;
      if (Object.keys(times).length >= total) break;
      await sleep(100);
    }
    const samples: number[] = [];
    for (let i = warmup; i < total; i++) {
      const at = times[key(i)];
      if (at === undefined) throw new Error(`latency: no request for ${key(i)}`);
      samples.push((at - sentAt[i]!) / 1000);
    }
    return samples;
  };

  process.stderr.write(`latency: ${opts.latencyCalls} calls at ${opts.latencyRate}/s, baseline then callhook...\n`);
  {
    const prefix = newPrefix('latbase');
    const queue = new Queue('calls', { connection: redis, prefix, defaultJobOptions: { removeOnComplete: true } });
    const procs = await startBaselineWorkers(prefix, 'calls', 1, 1);
    const samples = await measure((i) => queue.add('calls', { call_id: `lb-${i}` }, { jobId: `lb-${i}` }), (i) => `lb-${i}.0`);
    await Promise.all(procs.map((p) => p.stop()));
    await queue.close();
    await deletePrefix(prefix);
    const s = summarize(samples);
    record(section, 'baseline (Queue.add -> worker -> POST), p50', s.p50, 'ms');
    record(section, 'baseline, p99', s.p99, 'ms');
  }
  {
    const prefix = newPrefix('latch');
    const store = new CallStore(redis, prefix, 86_400_000);
    const queue = createCallsQueue(redis, prefix);
    const producer = new CallProducer(queue, store);
    const procs = await startCallhookWorkers(prefix, 1);
    const samples = await measure((i) => producer.enqueue([event(`lc-${i}`, 'bench1')]), (i) => `lc-${i}.crm-lookup`);
    await Promise.all(procs.map((p) => p.stop()));
    await queue.close();
    await deletePrefix(prefix);
    const s = summarize(samples);
    record(section, 'callhook (CallProducer.enqueue -> first app request), p50', s.p50, 'ms');
    record(section, 'callhook, p99', s.p99, 'ms');
  }
}

async function memory(): Promise<void> {
  const section = `memory (backlog of ${opts.backlog} calls, 1 app, 1 worker process)`;
  process.stderr.write(`memory: enqueue and drain ${opts.backlog} calls...\n`);
  const r = await drainCallhook(opts.backlog, 1, 1, { memory: true });
  record(section, 'worker peak RSS (VmHWM) while draining', r.peakRss! / 2 ** 20, 'MiB');
  record(section, 'Redis memory per queued call (used_memory delta / N)', r.redisBytesPerCall!, 'bytes', `call record ${r.callKeyBytes} B + BullMQ job ${r.jobKeyBytes} B (MEMORY USAGE)`);
  record(section, 'enqueue rate (CallProducer.enqueue, batches of 1000)', opts.backlog / r.enqueueSeconds!, 'calls/s');
  record(section, 'drain rate', r.callsPerSecond, 'calls/s', `${round(r.seconds, 1)} s`);
}

async function scale(): Promise<void> {
  const section = `scale (${opts.scaleCalls} calls, 1 app, concurrency ${opts.concurrency} per process)`;
  const results: number[] = [];
  for (const workers of [1, 2]) {
    process.stderr.write(`scale: ${workers} worker process(es)...\n`);
    const r = await drainCallhook(opts.scaleCalls, 1, workers);
    results.push(r.callsPerSecond);
    record(section, `${workers} worker process${workers > 1 ? 'es' : ''}`, r.callsPerSecond, 'calls/s', `${round(r.seconds, 2)} s`);
  }
  record(section, '2 processes / 1 process', results[1]! / results[0]!, 'x', `${cpus().length} cores shared with Redis and the receiver`);
}

// ---------------------------------------------------------------- main

async function cleanup(): Promise<void> {
  for (const child of children) child.kill('SIGKILL');
  for (const prefix of [...prefixes]) await deletePrefix(prefix).catch(() => undefined);
}

async function main(): Promise<void> {
  mkdirSync(workDir, { recursive: true });
  redis = createRedis(REDIS_URL);
  const receiver = await startReceiver({ count: true, times: true });
  track(receiver.child);
  receiverUrl = receiver.url;
  writeFileSync(join(workDir, 'policies.yaml'), policiesYaml(receiverUrl));
  const started = Date.now();
  const loadBefore = loadavg();
  try {
    const phases: Record<string, () => Promise<void>> = { throughput, ingest, latency, memory, scale };
    for (const name of opts.only) {
      const phase = phases[name];
      if (!phase) throw new Error(`--only: unknown phase ${name} (${Object.keys(phases).join(', ')})`);
      await phase();
    }
  } finally {
    await cleanup();
    receiver.stop();
    loadAgent.destroy();
  }
  const meta = {
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    node: process.version,
    cpus: cpus().length,
    load_before: loadBefore.map((l) => round(l, 2)),
    load_after: loadavg().map((l) => round(l, 2)),
    seconds: round((Date.now() - started) / 1000, 1),
    options: opts,
  };
  console.log(`\ncallhook bench: ${meta.cpus} cores, node ${meta.node}, load ${meta.load_before.join(' ')} -> ${meta.load_after.join(' ')}, ${meta.seconds} s`);
  console.table(rows.map((r) => ({ section: r.section, measure: r.measure, value: r.value, unit: r.unit, note: r.note ?? '' })));
  const json = JSON.stringify({ bench: 'callhook', ...meta, summary, rows });
  console.log(json);
  if (opts.json) writeFileSync(opts.json, `${json}\n`);
  rmSync(workDir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(() => redis.quit())
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanup().catch(() => undefined);
    process.exit(1);
  });
