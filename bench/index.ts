/**
 * `npm run bench`: callhook's throughput, retry path, ingest rate, latency, memory and scale, side
 * by side with a raw BullMQ + axios baseline measured in the same run, printed as a table and as
 * JSON. Flags and method: docs/bench.md. One file per measured path:
 *   throughput.ts (drains, delivery controls, the retry path)   ingest-api.ts (POST /v1/calls)
 *   latency.ts (enqueue → first request)          memory.ts (backlog memory, 1 vs 2 workers)
 *   results.ts (list query on many records, results feed read rate)
 * Every measured worker and the API run in processes of their own (processes.ts); the receiver
 * too (receiver.ts). This process only fills queues, generates load and watches the clock.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createRedis } from '../src/runtime';
import { cleanup, opts, REDIS_URL, rows, shared, summary, workDir } from './context';
import { loadAgent, policiesYaml } from './drain';
import { ingest } from './ingest-api';
import { latency } from './latency';
import { round, startReceiver } from './lib';
import { memory, scale } from './memory';
import { track } from './processes';
import { results } from './results';
import { delivery, retries, throughput } from './throughput';

const PHASES: Record<string, () => Promise<void>> = { throughput, delivery, retries, ingest, latency, memory, scale, results };

async function main(): Promise<void> {
  mkdirSync(workDir, { recursive: true });
  shared.redis = createRedis(REDIS_URL);
  const receiver = await startReceiver({ count: true, times: true });
  track(receiver.child);
  shared.receiverUrl = receiver.url;
  writeFileSync(join(workDir, 'policies.yaml'), policiesYaml(receiver.url));
  writeFileSync(join(workDir, 'policies-compared.yaml'), policiesYaml(receiver.url, false));
  const started = Date.now();
  const loadBefore = loadavg();
  try {
    for (const name of opts.only) {
      const phase = PHASES[name];
      if (!phase) throw new Error(`--only: unknown phase ${name} (${Object.keys(PHASES).join(', ')})`);
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
  .then(() => shared.redis.quit())
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanup().catch(() => undefined);
    process.exit(1);
  });
