import http from 'node:http';
import { Queue } from 'bullmq';
import type { CallEvent } from '../src/model/call';
import { createCallsQueue, jobIdFor } from '../src/queue/calls-queue';
import { CallProducer } from '../src/queue/producer';
import { CallStore } from '../src/store/call-store';
import { deletePrefix, newPrefix, nowUs, shared, sleep } from './context';
import { cpuMsOf, memoryOf, startBaselineWorkers, startCallhookWorkers } from './processes';

/** Drains: a paused queue filled with calls, a worker started, then timed until no job is left. */

export const EVENT_BASE = { calling_number: '+1 (555) 123-4567', called_number: '1000', calling_name: "O'Brien & Sons", calling_devicename: 'SEP001122334455', trigger_point_type: 'CallEnded' };
export const event = (callId: string, policy: string): CallEvent => ({ ...EVENT_BASE, call_id: callId, policy, timestamp: new Date().toISOString() });

/**
 * bench1: one app with templated URL, query, headers and body; bench3: two more from its
 * response; bench-retry: bench1's app at a path where the receiver answers 503 to the first
 * request of each call, retried 1 ms later (circuit off: every first attempt failing would open
 * it, and this measures the retry path); bench1-signed and bench1-limited: bench1's app with a
 * Standard Webhooks signature, and with a rate limit the drain never reaches.
 */
export function policiesYaml(url: string, withDelivery = true): string {
  const crm = (path: string, extra = '') => `
      - name: CRM Lookup
        method: POST
        url: "${url}${path}/crm/contacts/{{ event.calling_number }}"
        query: { phone: "{{ event.calling_number }}", source: callhook }
        headers: { X-Caller: "{{ event.calling_name }}", X-Device: "{{ event.calling_devicename }}" }
        timeout: 5s${extra}
        body: { phone: "{{ event.calling_number }}", called: "{{ event.called_number }}", name: "{{ event.calling_name }}", at: "{{ event.timestamp }}" }`;
  return `policies:
  - id: bench1
    apps:${crm('')}
  - id: bench-retry
    apps:${crm('/flaky', `\n        retry_delay: 1ms${withDelivery ? '\n        circuit: false' : ''}`)}${withDelivery ? deliveryPolicies(crm) : ''}
  - id: bench3
    apps:${crm('')}
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

/** bench1's app signed, and under a rate limit the drain never reaches (fields older builds refuse). */
function deliveryPolicies(crm: (path: string, extra?: string) => string): string {
  const secret = `whsec_${Buffer.from('callhook-bench-signing-key-32byt').toString('base64')}`;
  return `
  - id: bench1-signed
    apps:${crm('', `\n        signing: { secret: "${secret}" }`)}
  - id: bench1-limited
    apps:${crm('', '\n        rate_limit: 10000/s')}`;
}

export interface DrainResult {
  seconds: number;
  callsPerSecond: number;
  /** Worker processes' CPU time per call, in ms (startup excluded). */
  cpuMsPerCall: number;
  /** Redis server CPU time per call over the drain, in ms. */
  redisCpuMsPerCall: number;
  enqueueSeconds?: number;
  peakRss?: number;
  redisBytesPerCall?: number;
  /** After the drain: the record with its result, its index entries and its feed entry (the job is gone). */
  redisBytesPerFinishedCall?: number;
  callKeyBytes?: number;
  jobKeyBytes?: number;
}

async function fillCallhook(prefix: string, n: number, policy: string, tag: string) {
  const store = new CallStore(shared.redis, prefix, 86_400_000);
  const queue = createCallsQueue(shared.redis, prefix);
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
    const pipeline = shared.redis.pipeline();
    for (let j = i; j < Math.min(n, i + 5000); j++) pipeline.hget(store.key(`${tag}-${j}`), 'status');
    for (const [, status] of (await pipeline.exec()) ?? []) counts[String(status)] = (counts[String(status)] ?? 0) + 1;
  }
  return counts;
}

export interface CallhookDrain {
  /** Policy the calls name (bench1, bench3, bench-retry). */
  policy: string;
  /** Requests the receiver must see per call. */
  requestsPerCall: number;
  /** Every call's app is sent twice (bench-retry: 503, then success); else no key may repeat. */
  retried?: boolean;
  workers?: number;
  /** The callhook CLI whose worker drains. @defaultValue opts.cli */
  cli?: string;
  memory?: boolean;
}

export async function drainCallhook(n: number, drain: CallhookDrain): Promise<DrainResult> {
  const workers = drain.workers ?? 1;
  const prefix = newPrefix(`ch-${drain.policy}-${workers}`);
  const tag = `c${drain.policy}w${workers}`;
  const memBefore = drain.memory ? await usedMemory() : 0;
  const { queue, store, enqueueSeconds } = await fillCallhook(prefix, n, drain.policy, tag);
  const result: Partial<DrainResult> = { enqueueSeconds };
  if (drain.memory) {
    result.redisBytesPerCall = ((await usedMemory()) - memBefore) / n;
    result.callKeyBytes = Number(await shared.redis.call('MEMORY', 'USAGE', store.key(`${tag}-0`), 'SAMPLES', '0'));
    result.jobKeyBytes = Number(await shared.redis.call('MEMORY', 'USAGE', `${prefix}:calls:${jobIdFor(`${tag}-0`)}`, 'SAMPLES', '0'));
  }
  await resetReceiver();
  const procs = await startCallhookWorkers(prefix, workers, drain.cli);
  let peakRss = 0;
  const pids = procs.map((p) => p.child.pid!);
  const sampleRss = () => {
    for (const pid of pids) peakRss = Math.max(peakRss, memoryOf(pid).rss);
  };
  const drained = await measureDrain(queue, pids, n, drain.memory ? sampleRss : undefined);
  result.peakRss = Math.max(peakRss, ...pids.map((pid) => memoryOf(pid).hwm));
  await Promise.all(procs.map((p) => p.stop()));
  if (drain.memory) result.redisBytesPerFinishedCall = ((await usedMemory()) - memBefore) / n;
  const stats = await receiverStats();
  const finals = await statuses(store, n, tag);
  await queue.close();
  await deletePrefix(prefix);
  if (stats.total !== n * drain.requestsPerCall || stats.duplicates !== (drain.retried ? n : 0) || finals.completed !== n) {
    throw new Error(`callhook ${drain.policy} drain incomplete: receiver ${JSON.stringify(stats)}, statuses ${JSON.stringify(finals)}`);
  }
  return { ...result, ...drained };
}

export async function drainBaseline(n: number, requests: number, workers = 1): Promise<DrainResult> {
  const prefix = newPrefix(`base${requests}x${workers}`);
  const queue = new Queue('calls', { connection: shared.redis, prefix, defaultJobOptions: { removeOnComplete: true } });
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

/** Drains of `size` calls each, as one: time summed, per-call figures averaged, peak RSS the highest. */
export function combine(results: DrainResult[], size: number): DrainResult {
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

const PENDING_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/** Times the drain of `n` calls and the CPU the worker processes and the Redis server spent on it. */
export async function measureDrain(
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

/** CPU time the Redis server has used so far (INFO cpu, user + sys), in ms: every client's work counts. */
export async function redisCpuMs(): Promise<number> {
  const info = await shared.redis.info('cpu');
  const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
}

export async function usedMemory(): Promise<number> {
  const info = await shared.redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

// ---------------------------------------------------------------- the receiver and HTTP load

export const loadAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export function request(url: string, method: string, body: string): Promise<{ status: number; text: string }> {
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

export async function getJson(url: string): Promise<unknown> {
  const { text } = await request(url, 'GET', '');
  return JSON.parse(text) as unknown;
}

async function receiverStats(): Promise<{ total: number; distinct: number; duplicates: number }> {
  return (await getJson(`${shared.receiverUrl}/__stats`)) as { total: number; distinct: number; duplicates: number };
}

export async function resetReceiver(): Promise<void> {
  await request(`${shared.receiverUrl}/__reset`, 'POST', '');
}
