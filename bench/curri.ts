/**
 * `npm run bench:curri`: CUCM's call-routing requests (CURRI) and `/v1/realtime` against a policy
 * with one real-time CRM lookup, beside a raw relay (curri-relay.ts: a bare Node server that
 * forwards to the same receiver with keep-alive axios and answers a fixed CIXML), in one run.
 *   closed loop: `--concurrency` keep-alive connections as fast as answers come, in alternating
 *                rounds (relay, CURRI, /v1/realtime), for throughput and CPU per request;
 *   fixed rate:  `--rate` requests/s (open loop, latency from each request's scheduled time, so a
 *                stall counts against it), for the latency a CUCM sees at that load.
 *   npm run bench:curri -- [--seconds 8] [--rounds 3] [--concurrency 50] [--rate 1000] [--targets relay,curri,realtime] [--json file]
 *   --compare <other build's dist/workers/cli.js>: that build's API is measured too, in the same rounds (before/after in one run).
 * Every server runs in a process of its own; this one only generates load.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRedis } from '../src/runtime';
import { apiNodeArgs, children, cleanup, deletePrefix, newPrefix, nowUs, opts, REDIS_URL, shared, sleep, workDir } from './context';
import { median, numberFlag, round, startReceiver, summarize } from './lib';
import { redisCpuMs } from './drain';
import { callhookEnv, cpuMsOf, spawnLogged, track, waitForLine } from './processes';

const seconds = numberFlag('seconds', 8);
const rounds = numberFlag('rounds', 3);
const concurrency = numberFlag('concurrency', 50);
const rate = numberFlag('rate', 1000);
/** Which servers to measure (comma-separated: relay, curri, realtime). */
const only = (process.argv.includes('--targets') ? process.argv[process.argv.indexOf('--targets') + 1]! : 'relay,curri,realtime').split(',');
const TOKEN = 'bench-curri-token-0123456789abcdef';

interface Target {
  name: string;
  pid: number;
  url: string;
  body: (i: number) => string;
  headers: http.OutgoingHttpHeaders;
  /** The answer is what a CUCM (or caller) must get. */
  check: (text: string) => boolean;
}

function curriRequest(i: number): string {
  const attribute = (id: string, value: string) => `<Attribute AttributeId="${id}" DataType="http://www.w3.org/2001/XMLSchema#string"><AttributeValue>${value}</AttributeValue></Attribute>`;
  return `<?xml version="1.0" encoding="UTF-8"?><Request xmlns="urn:oasis:names:tc:xacml:2.0:context:schema:os"><Subject SubjectCategory="urn:oasis:names:tc:xacml:1.0:subject-category:access-subject">${attribute('urn:Cisco:uc:1.0:callingnumber', `+1555${String(i % 10_000_000).padStart(7, '0')}`)}${attribute('urn:Cisco:uc:1.0:callednumber', '1000')}${attribute('urn:Cisco:uc:1.0:transformedcgpn', '+15551234567')}${attribute('urn:Cisco:uc:1.0:transformedcdpn', '1000')}${attribute('urn:Cisco:uc:1.0:callingdevicename', 'SEP001122334455')}</Subject><Resource>${attribute('urn:oasis:names:tc:xacml:1.0:resource:resource-id', 'CISCO:UC:VoiceOrVideoCall')}</Resource><Action>${attribute('urn:oasis:names:tc:xacml:1.0:action:action-id', 'any')}</Action><Environment>${attribute('urn:Cisco:uc:1.0:triggerpointtype', 'translationpattern')}</Environment></Request>`;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(concurrency, 256) });

function send(target: Target, i: number): Promise<string> {
  const body = target.body(i);
  return new Promise((resolve, reject) => {
    const req = http.request(target.url, { method: 'POST', agent, headers: { ...target.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${target.name}: ${res.statusCode} ${text.slice(0, 300)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let seq = 0;

/** `concurrency` requests always in flight for `ms`: answers/s, latency, server CPU per request. */
async function closedLoop(target: Target, ms: number) {
  const latencies: number[] = [];
  const cpu0 = cpuMsOf(target.pid);
  const redis0 = await redisCpuMs();
  const t0 = nowUs();
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const start = nowUs();
        const text = await send(target, ++seq);
        latencies.push((nowUs() - start) / 1000);
        if (latencies.length === 1 && !target.check(text)) throw new Error(`${target.name}: unexpected answer ${text.slice(0, 500)}`);
      }
    }),
  );
  const wallMs = (nowUs() - t0) / 1000;
  const cpuMs = cpuMsOf(target.pid) - cpu0;
  const redisMs = (await redisCpuMs()) - redis0;
  return { perSecond: (latencies.length * 1000) / wallMs, cpuMsPerRequest: cpuMs / latencies.length, redisCpuMsPerRequest: redisMs / latencies.length, cores: cpuMs / wallMs, latency: summarize(latencies) };
}

/** `rate` requests/s for `ms`, each timed from when it was due. */
async function fixedRate(target: Target, ms: number) {
  const latencies: number[] = [];
  const total = Math.round((rate * ms) / 1000);
  const cpu0 = cpuMsOf(target.pid);
  const t0 = nowUs();
  const inFlight: Promise<void>[] = [];
  for (let k = 0; k < total; ) {
    const due = t0 + (k * 1e6) / rate;
    if (nowUs() < due) {
      await sleep(1);
      continue;
    }
    for (; k < total && t0 + (k * 1e6) / rate <= nowUs(); k++) {
      const scheduled = t0 + (k * 1e6) / rate;
      inFlight.push(send(target, ++seq).then(() => void latencies.push((nowUs() - scheduled) / 1000)));
    }
  }
  await Promise.all(inFlight);
  const wallMs = (nowUs() - t0) / 1000;
  return { perSecond: (total * 1000) / wallMs, cores: (cpuMsOf(target.pid) - cpu0) / wallMs, latency: summarize(latencies) };
}

async function startRelay(receiverUrl: string): Promise<{ pid: number; port: number }> {
  const child = spawn(process.execPath, [...apiNodeArgs, join(__dirname, 'curri-relay.js')], { env: { ...process.env, RECEIVER_URL: receiverUrl }, stdio: ['ignore', 'pipe', 'inherit'] });
  track(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return { pid: child.pid!, port };
}

async function main(): Promise<void> {
  mkdirSync(workDir, { recursive: true });
  shared.redis = createRedis(REDIS_URL);
  const receiver = await startReceiver();
  track(receiver.child);
  const config = join(workDir, 'curri.yaml');
  writeFileSync(config, `
policies:
  - id: default
    apps:
      - name: CRM
        phase: real_time
        method: GET
        url: "${receiver.url}/contacts"
        query: { phone: "{{ event.calling_number }}" }
        timeout: 1s
    curri:
      calling_name: "{{ app_data.crm.data.name }}"
`);
  const prefix = newPrefix('curri');
  const api = spawnLogged([...apiNodeArgs, opts.cli, 'api'], { ...callhookEnv(prefix), CALLHOOK_CONFIG: config, CALLHOOK_PORT: '0', CALLHOOK_API_TOKEN: TOKEN });
  const apiUrl = (JSON.parse(await waitForLine(api.log, 'api listening', api.proc.child)) as { url: string }).url;
  const comparedPrefix = newPrefix('curri-compared');
  const compared = opts.compare ? spawnLogged([...apiNodeArgs, opts.compare, 'api'], { ...callhookEnv(comparedPrefix, opts.compare), CALLHOOK_CONFIG: config, CALLHOOK_PORT: '0', CALLHOOK_API_TOKEN: TOKEN }) : undefined;
  const comparedUrl = compared && (JSON.parse(await waitForLine(compared.log, 'api listening', compared.proc.child)) as { url: string }).url;
  const relay = await startRelay(receiver.url);
  const relayUrl = `http://127.0.0.1:${relay.port}`;
  const xml = { 'content-type': 'text/xml; charset=utf-8' };
  const json = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
  const realtimeBody = (i: number) => JSON.stringify({ call_id: `rt-${i}`, calling_number: `+1555${String(i % 10_000_000).padStart(7, '0')}`, called_number: '1000' });
  const targets: Target[] = ([
    { key: 'relay', name: 'raw relay (CURRI)', pid: relay.pid, url: `${relayUrl}/curri`, body: curriRequest, headers: xml, check: (t) => t.includes('Permit') },
    { key: 'curri', name: 'callhook POST /curri', pid: api.proc.child.pid!, url: `${apiUrl}/curri?api_key=${TOKEN}`, body: curriRequest, headers: xml, check: (t) => t.includes('callingname=&quot;John Doe&quot;') },
    { key: 'realtime', name: 'callhook POST /v1/realtime', pid: api.proc.child.pid!, url: `${apiUrl}/v1/realtime`, body: realtimeBody, headers: json, check: (t) => t.includes('"John Doe"') },
    ...(compared ? [
      { key: 'curri', name: 'compared build POST /curri', pid: compared.proc.child.pid!, url: `${comparedUrl}/curri?api_key=${TOKEN}`, body: curriRequest, headers: xml, check: (t: string) => t.includes('callingname=&quot;John Doe&quot;') },
      { key: 'realtime', name: 'compared build POST /v1/realtime', pid: compared.proc.child.pid!, url: `${comparedUrl}/v1/realtime`, body: realtimeBody, headers: json, check: (t: string) => t.includes('"John Doe"') },
    ] : []),
  ] as (Target & { key: string })[]).filter((t) => only.includes(t.key));
  const started = Date.now();
  const loadBefore = loadavg();
  process.stderr.write(`curri bench: warm-up, then ${rounds} rounds of ${seconds} s per server at ${concurrency} concurrent, then ${rate}/s fixed rate...\n`);
  for (const target of targets) await closedLoop(target, 2000);
  const closed = new Map<string, Awaited<ReturnType<typeof closedLoop>>[]>(targets.map((t) => [t.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
    for (const target of order) {
      const result = await closedLoop(target, seconds * 1000);
      closed.get(target.name)!.push(result);
      process.stderr.write(`  round ${r + 1} ${target.name}: ${round(result.perSecond, 0)}/s, p99 ${round(result.latency.p99, 1)} ms, ${round(result.cpuMsPerRequest, 3)} CPU ms/request\n`);
    }
  }
  const open = new Map<string, Awaited<ReturnType<typeof fixedRate>>>();
  for (const target of targets) open.set(target.name, await fixedRate(target, seconds * 1000));

  const relayRuns = closed.get('raw relay (CURRI)');
  const relayRate = median((relayRuns ?? [{ perSecond: NaN }]).map((x) => x.perSecond));
  // Each round measures every server back to back: the median of the rounds' own ratios moves
  // less with the machine speeding up or slowing down between rounds.
  const roundRatio = (runs: { perSecond: number }[]) => (relayRuns ? median(runs.map((x, r) => x.perSecond / relayRuns[r]!.perSecond)) : NaN);
  const table = targets.map((t) => {
    const runs = closed.get(t.name)!;
    const perSecond = median(runs.map((x) => x.perSecond));
    const cpu = median(runs.map((x) => x.cpuMsPerRequest));
    const fixed = open.get(t.name)!;
    return {
      server: t.name,
      [`req/s @${concurrency}`]: round(perSecond, 0),
      'x relay': round(perSecond / relayRate, 3),
      'x relay, per round': round(roundRatio(runs), 3),
      'p50 ms': round(median(runs.map((x) => x.latency.p50)), 2),
      'p99 ms': round(median(runs.map((x) => x.latency.p99)), 2),
      'CPU ms/req': round(cpu, 3),
      // Redis shares the cores: what each request costs it counts against throughput too.
      'Redis CPU ms/req': round(median(runs.map((x) => x.redisCpuMsPerRequest)), 3),
      // About 1 when the server's one JavaScript thread is the bottleneck: the ratio to the relay is then that of CPU per request.
      [`cores @${concurrency}`]: round(median(runs.map((x) => x.cores)), 2),
      'req/s per core': round(1000 / cpu, 0),
      [`@${rate}/s p50 ms`]: round(fixed.latency.p50, 2),
      [`@${rate}/s p99 ms`]: round(fixed.latency.p99, 2),
      [`@${rate}/s cores`]: round(fixed.cores, 2),
    };
  });
  await api.proc.stop();
  await compared?.proc.stop();
  await deletePrefix(prefix);
  await deletePrefix(comparedPrefix);
  await cleanup();
  receiver.stop();
  agent.destroy();
  const meta = { command: `npm run bench:curri -- ${process.argv.slice(2).join(' ')}`.trim(), node: process.version, cpus: cpus().length, load_before: loadBefore.map((l) => round(l, 2)), load_after: loadavg().map((l) => round(l, 2)), seconds: round((Date.now() - started) / 1000, 1) };
  console.log(`\ncallhook bench:curri: ${meta.cpus} cores, node ${meta.node}, load ${meta.load_before.join(' ')} -> ${meta.load_after.join(' ')}, ${meta.seconds} s`);
  console.log(`targets: >= 1,000 req/s per core with p99 < 15 ms at ${rate}/s; >= 0.9x the raw relay at ${concurrency} concurrent`);
  console.table(table);
  const out = JSON.stringify({ bench: 'curri', ...meta, rows: table });
  console.log(out);
  if (opts.json) writeFileSync(opts.json, `${out}\n`);
  rmSync(workDir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

main()
  .then(() => shared.redis.quit())
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanup().catch(() => undefined);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  });
