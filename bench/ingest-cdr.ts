/**
 * CDR ingestion benchmark, two parts:
 *  1. memory: a large generated CDR file (default 256 MB) and its CMR twin streamed through the
 *     parser, the CMR join and the mapper (a dry run), reporting peak RSS and records/s;
 *  2. speed: records/s from a CDR file and its CMR twin (default 8 MB of CDR, ingested --rounds
 *     4 times) into the queue (read the CMR twin, parse, join, map, dedupe mark, addBulk)
 *     against BullMQ's raw `queue.addBulk` of the same events (quality included) as job data,
 *     in the same run, on the same Redis (separate prefixes, deleted afterwards).
 * Part 2 is bounded by Redis (every event is stored), so it uses a smaller file by default to
 * keep the run under three minutes. `--no-cmr` measures CDR files alone (no join).
 *
 *   npm run bench:ingest                                   # about 3 minutes
 *   npm run bench:ingest -- --size-mb 1024                 # part 1 on a 1 GB file
 *   npm run bench:ingest -- --size-mb 1024 --queue-mb 1024 # both on 1 GB (Redis needs ~5 GB)
 *   options: --batch 1000 --inflight 4 --rounds 4 --no-cmr --keep-file
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Queue } from 'bullmq';
import pino from 'pino';
import { CmrIndex, joinSource } from '../src/cdr/cmr-index';
import { parseCsvLine } from '../src/cdr/csv';
import { ingestFiles } from '../src/cdr/ingest';
import { readLayout } from '../src/cdr/layout';
import { FileLedger } from '../src/cdr/ledger';
import { readLines } from '../src/cdr/line-reader';
import type { QualitySource } from '../src/cdr/quality';
import { mapRecord } from '../src/cdr/map';
import type { CallEvent } from '../src/events/schema';
import { parseConfig } from '../src/policies/load';
import { DEFAULT_JOB_OPTIONS, jobIdFor, QUEUE_NAME } from '../src/queue/calls-queue';
import { createRedis, createRuntime } from '../src/runtime';
import { parseSettings } from '../src/settings';
import { deleteKeysWithPrefix } from '../src/store/delete-prefix';
import { writeLargeCdrFile } from '../test/helpers/cdr-generator';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name}: expected a positive number`);
  return value;
}

const sizeMb = flag('size-mb', 256);
const queueMb = flag('queue-mb', 8);
const rounds = flag('rounds', 4);
const batchSize = flag('batch', 1000);
const inflight = flag('inflight', 4);
const withCmr = !process.argv.includes('--no-cmr');
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const run = randomBytes(4).toString('hex');
const MB = 1024 * 1024;

async function deletePrefix(prefix: string): Promise<void> {
  const redis = createRedis(redisUrl);
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
}

/** Samples RSS every 50 ms while `work` runs; returns its result, seconds taken and peak RSS. */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number; peakRss: number }> {
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const started = process.hrtime.bigint();
  try {
    const result = await work();
    return { result, seconds: Number(process.hrtime.bigint() - started) / 1e9, peakRss: Math.max(peakRss, process.memoryUsage().rss) };
  } finally {
    clearInterval(timer);
  }
}

/** The file's events (joined with its CMR twin, if any) in chunks, so the baseline can hold a chunk in memory without timing the parse. */
async function* eventChunks(path: string, cmrPath: string | undefined, chunk: number): AsyncGenerator<CallEvent[]> {
  const head = await readLayout(path);
  if (!head.ok) throw new Error(head.reason);
  let quality: QualitySource | undefined;
  if (cmrPath) {
    const cmrHead = await readLayout(cmrPath);
    if (!cmrHead.ok || cmrHead.kind !== 'cmr') throw new Error(`${cmrPath}: not a CMR file`);
    const twin = new CmrIndex();
    await twin.add(cmrPath, cmrHead);
    quality = joinSource(twin, undefined);
  }
  let events: CallEvent[] = [];
  for await (const line of readLines(path, { offset: head.dataOffset, line: 3 })) {
    const csv = parseCsvLine(line.text);
    if (!csv.ok) continue;
    const mapped = mapRecord(csv.fields, head.layout, { file: basename(path), line: line.number, quality });
    if (mapped.kind !== 'event') continue;
    events.push(mapped.event);
    if (events.length === chunk) {
      yield events;
      events = [];
    }
  }
  if (events.length > 0) yield events;
}

/** Raw BullMQ: addBulk of the events as job data, same batch size and concurrency; only addBulk is timed. */
async function rawAddBulk(path: string, cmrPath: string | undefined, prefix: string): Promise<{ records: number; seconds: number }> {
  const connection = createRedis(redisUrl);
  const queue = new Queue(QUEUE_NAME, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  let records = 0;
  let seconds = 0;
  for await (const events of eventChunks(path, cmrPath, 50_000)) {
    const started = process.hrtime.bigint();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < events.length; i += batchSize) {
      const jobs = events.slice(i, i + batchSize).map((event) => ({ name: QUEUE_NAME, data: event, opts: { jobId: jobIdFor(event.call_id) } }));
      pending.push(queue.addBulk(jobs));
      if (pending.length >= inflight) await pending.shift();
    }
    await Promise.all(pending);
    seconds += Number(process.hrtime.bigint() - started) / 1e9;
    records += events.length;
  }
  await queue.close();
  await connection.quit();
  return { records, seconds };
}

async function main(): Promise<void> {
  // Named as CUCM names them, so the ingester reads each CDR file with its CMR twin.
  const dir = await mkdtemp(join(tmpdir(), 'callhook-bench-'));
  const big = { cdr: join(dir, `cdr_Bench_01_${run}`), cmr: join(dir, `cmr_Bench_01_${run}`) };
  const small = { cdr: join(dir, `cdr_Bench_02_${run}`), cmr: join(dir, `cmr_Bench_02_${run}`) };
  const filesOf = (pair: { cdr: string; cmr: string }) => (withCmr ? [pair.cdr, pair.cmr] : [pair.cdr]);
  const prefixes = { ingest: `bench-cdr-${run}`, raw: `bench-raw-${run}` };
  try {
    process.stdout.write(`generating ${sizeMb} MB and ${queueMb} MB CDR files${withCmr ? ' and their CMR twins' : ''} in ${dir}...\n`);
    const bigFile = await writeLargeCdrFile(big.cdr, sizeMb * MB, 7, withCmr ? big.cmr : undefined);
    const smallFile = await writeLargeCdrFile(small.cdr, queueMb * MB, 8, withCmr ? small.cmr : undefined);
    const baseRss = process.memoryUsage().rss;

    const parseOnly = await measured(() => ingestFiles(filesOf(big), { batchSize, inflight }));

    // Rounds alternate the order (ingest/raw, raw/ingest, ...) so load from other processes on a
    // shared machine falls on both sides alike; each round starts from empty prefixes.
    const config = parseConfig('policies:\n  - id: default\n    apps:\n      - name: Log\n        url: "http://127.0.0.1:9/x"\n', {}, 'bench');
    const ingest = { seconds: 0, peakRss: 0, queued: 0, jobs: 0, joined: 0 };
    const raw = { seconds: 0, records: 0 };
    const ingestRound = async (round: number) => {
      const settings = parseSettings({ REDIS_URL: redisUrl, CALLHOOK_PREFIX: prefixes.ingest });
      const runtime = createRuntime(settings, config, pino({ level: 'silent' }));
      const m = await measured(() =>
        ingestFiles(filesOf(small), { enqueue: (events) => runtime.producer.enqueueSerialized(events), ledger: new FileLedger(runtime.redis, settings.prefix), batchSize, inflight }),
      );
      ingest.seconds += m.seconds;
      // Only the first round: later ones start with the heap the raw round grew (50k events held).
      if (round === 0) ingest.peakRss = m.peakRss;
      ingest.queued += m.result.queued;
      ingest.joined += m.result.quality_joined;
      ingest.jobs += await runtime.queue.getWaitingCount();
      await runtime.close();
      await deletePrefix(prefixes.ingest);
    };
    const rawRound = async () => {
      const r = await rawAddBulk(small.cdr, withCmr ? small.cmr : undefined, prefixes.raw);
      raw.seconds += r.seconds;
      raw.records += r.records;
      await deletePrefix(prefixes.raw);
    };
    for (let round = 0; round < rounds; round += 1) {
      if (round % 2 === 0) {
        await ingestRound(round);
        await rawRound();
      } else {
        await rawRound();
        await ingestRound(round);
      }
    }

    const rate = (n: number, s: number) => Math.round(n / s).toLocaleString('en-US').padStart(9);
    const row = (name: string, mb: number, n: number, s: number, rss: number) =>
      `| ${name.padEnd(38)} | ${String(mb).padStart(5)} | ${String(n).padStart(9)} | ${s.toFixed(1).padStart(6)} | ${rate(n, s)} | ${rss ? String(Math.round(rss / MB)).padStart(8) : '       -'} |`;
    const ingestRate = ingest.queued / ingest.seconds;
    const rawRate = raw.records / raw.seconds;
    const dry = parseOnly.result;
    const mb = (f: { bytes: number; cmrBytes: number }) => Math.round((f.bytes + f.cmrBytes) / MB);
    process.stdout.write(
      [
        '',
        `Node ${process.version}, batch ${batchSize}, ${inflight} batches in flight, Redis ${redisUrl}; process RSS before: ${Math.round(baseRss / MB)} MB`,
        withCmr
          ? `CMR join on; MB below counts both files: ${Math.round(bigFile.bytes / MB)} MB CDR + ${Math.round(bigFile.cmrBytes / MB)} MB CMR (${bigFile.cmrRows} rows), ${Math.round(smallFile.bytes / MB)} MB + ${Math.round(smallFile.cmrBytes / MB)} MB`
          : 'CMR join off (--no-cmr): CDR files only',
        '',
        '| path                                   |    MB |   records |      s |    rec/s | peak RSS MB |',
        '|----------------------------------------|------:|----------:|-------:|---------:|---------:|',
        row(`parse + ${withCmr ? 'join + ' : ''}map, no queue (dry run)`, mb(bigFile), dry.records, parseOnly.seconds, parseOnly.peakRss),
        row(`ingest-cdr: files → queue (${rounds}x)`, mb(smallFile) * rounds, ingest.queued, ingest.seconds, ingest.peakRss),
        row(`raw BullMQ addBulk, same events (${rounds}x)`, mb(smallFile) * rounds, raw.records, raw.seconds, 0),
        '',
        `ratio ingest / raw addBulk: ${(ingestRate / rawRate).toFixed(2)}x (goal >= 0.8x)`,
        `jobs in the queue after ingest: ${ingest.jobs} (expected ${smallFile.calls * rounds})`,
        `calls with quality: dry run ${dry.quality_joined} (expected ${bigFile.joined}), ingest ${ingest.joined} (expected ${smallFile.joined * rounds}); CMR rows unmatched: ${dry.cmr_unmatched}`,
        '',
      ].join('\n'),
    );
  } finally {
    if (!process.argv.includes('--keep-file')) await rm(dir, { recursive: true, force: true });
    await deletePrefix(prefixes.ingest).catch(() => undefined);
    await deletePrefix(prefixes.raw).catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
