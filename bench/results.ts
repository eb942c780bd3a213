import { spawn } from 'node:child_process';
import type { SerializedEvent } from '../src/events/schema';
import { CallStore } from '../src/store/call-store';
import { apiNodeArgs, deletePrefix, newPrefix, nodeArgs, nowUs, opts, record, shared } from './context';
import { getJson, usedMemory } from './drain';
import { round, summarize } from './lib';
import { callhookEnv, spawnLogged, waitForLine } from './processes';

/**
 * The results side: the list query over many call records (the same queries on a small and a
 * large store, so the cost per page shows it does not grow with the records), and how fast the
 * results feed reads, through the API and through `callhook results`.
 */
export async function results(): Promise<void> {
  const small = await listStore(10_000);
  const large = await listStore(opts.listRecords);
  for (const [name, query] of QUERIES) {
    for (const [build, label] of [['callhook', ''], ['compared', ', compared build']] as const) {
      for (const store of [small, large]) {
        const latency = store.latency[build]?.[name];
        if (latency) record(SECTION, `${name}: ${store.records.toLocaleString('en-US')} records${label}, p50 / p99`, latency.p50, 'ms', `p99 ${round(latency.p99, 2)} ms${store === large && !label ? `; ${query}` : ''}`);
      }
    }
  }
  record(SECTION, `Redis memory per call record with its index entries (${large.records.toLocaleString('en-US')} records)`, large.bytesPerRecord, 'bytes');
  record(FEED_SECTION, 'GET /v1/results?limit=500, paging through the feed', large.feedApiRate, 'entries/s', `${large.feedEntries} entries`);
  record(FEED_SECTION, 'callhook results (NDJSON to a pipe)', large.feedCliRate, 'entries/s', `${large.feedEntries} entries`);
}

const SECTION = 'list (GET /v1/calls, API in its own process)';
const FEED_SECTION = 'results feed read rate';

/** What each measured list query asks for; NUMBER and CURSOR are filled in per store. */
const QUERIES: [string, string][] = [
  ['newest 50', '/v1/calls?limit=50'],
  ['page 20 by cursor', '/v1/calls?limit=50&cursor=CURSOR'],
  ['status=failed', '/v1/calls?status=failed&limit=50'],
  ['one number (both sides)', '/v1/calls?number=NUMBER&limit=50'],
  ['policy + status, 1 % of the status pass', '/v1/calls?policy=rare&status=failed&limit=50'],
  ['since 10 minutes, 2 statuses', '/v1/calls?since=10m&status=queued,failed&limit=50'],
];

/**
 * Fills a prefix with `n` call records (queued, as the producer marks them; every 10th then
 * failed, which also writes its feed entry), starts an API on it and times the list queries.
 */
async function listStore(n: number) {
  const prefix = newPrefix(`list${n}`);
  const store = new CallStore(shared.redis, prefix, 86_400_000);
  process.stderr.write(`results: filling ${n} call records...\n`);
  const memBefore = await usedMemory();
  const t0 = nowUs();
  for (let i = 0; i < n; i += 1000) {
    const batch: SerializedEvent[] = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      // One call in 1000 names policy `rare`: with status=failed, a filter only 1 % of failed calls pass.
      const policy = j % 1000 === 0 ? 'rare' : 'bench1';
      const event = { call_id: `r-${j}`, calling_number: `+1555${String(j % 100_000).padStart(7, '0')}`, called_number: String(1000 + (j % 100)), policy, timestamp: new Date().toISOString() };
      batch.push({ call_id: event.call_id, json: JSON.stringify(event), calling_number: event.calling_number, called_number: event.called_number, policy: event.policy });
    }
    await store.markQueued(batch);
    await Promise.all(batch.filter((_, k) => (i + k) % 10 === 0).map((e) => store.checkpoint(e.call_id, e.policy ?? null).finish('failed')));
  }
  const bytesPerRecord = ((await usedMemory()) - memBefore) / n;
  process.stderr.write(`results: ${n} records in ${round((nowUs() - t0) / 1e6, 1)} s\n`);

  // With --compare, the other build's API reads the same records; each request goes to both in turn.
  const apis = { callhook: await startApi(opts.cli, prefix), ...(opts.compare ? { compared: await startApi(opts.compare, prefix) } : {}) };
  const base = apis.callhook.base;
  let cursor = '';
  for (let page = 0; page < 19; page++) cursor = ((await getJson(`${base}/v1/calls?limit=50${cursor ? `&cursor=${cursor}` : ''}`)) as { next_cursor: string }).next_cursor;
  const samples: Record<string, Record<string, number[]>> = {};
  for (const [name, query] of QUERIES) {
    for (let i = 0; i < 220; i++) {
      for (const [build, api] of Object.entries(apis)) {
        const url = api.base + query.replace('CURSOR', cursor).replace('NUMBER', encodeURIComponent(`+1 555 ${String(i * 37 % 100_000).padStart(7, '0')}`));
        const start = nowUs();
        const answer = (await getJson(url)) as { calls?: unknown[] };
        if (!answer.calls) throw new Error(`${url}: ${JSON.stringify(answer).slice(0, 200)}`);
        if (i >= 20) ((samples[build] ??= {})[name] ??= []).push((nowUs() - start) / 1000);
      }
    }
  }
  const latency: Record<string, Record<string, ReturnType<typeof summarize>>> = {};
  for (const [build, byQuery] of Object.entries(samples)) for (const [name, ms] of Object.entries(byQuery)) (latency[build] ??= {})[name] = summarize(ms);

  const feedEntries = Math.ceil(n / 10);
  let after = '0';
  let read = 0;
  const t1 = nowUs();
  while (read < feedEntries) {
    const page = (await getJson(`${base}/v1/results?after=${after}&limit=500`)) as { entries: unknown[]; next_after: string };
    if (page.entries.length === 0) break;
    read += page.entries.length;
    after = page.next_after;
  }
  const feedApiRate = read / ((nowUs() - t1) / 1e6);
  for (const api of Object.values(apis)) await api.proc.stop();
  const feedCliRate = feedEntries / (await timeCli(prefix));
  await deletePrefix(prefix);
  return { records: n, latency, bytesPerRecord, feedEntries, feedApiRate, feedCliRate };
}

async function startApi(cli: string, prefix: string) {
  const { proc, log } = spawnLogged([...apiNodeArgs, cli, 'api'], { ...callhookEnv(prefix, cli), CALLHOOK_PORT: '0' });
  return { proc, base: (JSON.parse(await waitForLine(log, 'api listening', proc.child)) as { url: string }).url };
}

/** Seconds `callhook results` takes to write the whole feed to a pipe. */
async function timeCli(prefix: string): Promise<number> {
  const child = spawn(process.execPath, [...nodeArgs, opts.cli, 'results'], { env: { ...process.env, ...callhookEnv(prefix) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const t0 = nowUs();
  child.stdout.resume();
  await new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`callhook results exited ${code}`)))));
  return (nowUs() - t0) / 1e6;
}
