import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expandPaths } from '../../src/cdr/files';
import { fileIdentity } from '../../src/cdr/identity';
import type { FileOutcome } from '../../src/cdr/ingest-file';
import { IngestRun, ingestFiles, type RunOptions, type Summary } from '../../src/cdr/ingest';
import { FileLedger } from '../../src/cdr/ledger';
import { watchDirs, type WatchOptions } from '../../src/cdr/watch';
import { CDR_TEST_POLICIES, renderCdrFile, renderCmrFile, syntheticInterval, type GeneratedRow } from '../helpers/cdr-generator';
import { startHarness } from '../helpers/harness';

const SAMPLES = resolve(__dirname, '../../../shared/cdr-samples');

let harness: Awaited<ReturnType<typeof startHarness>>;
let dir: string;
let rejections: string[];

function options(extra: Partial<RunOptions> = {}): RunOptions {
  const { runtime, prefix } = harness;
  return {
    enqueue: (events) => runtime.producer.enqueueSerialized(events),
    ledger: new FileLedger(runtime.redis, prefix),
    batchSize: 7,
    listener: { rejectedRecord: (file, line, reason) => rejections.push(`${file}:${line}: ${reason}`) },
    ...extra,
  };
}

beforeAll(async () => {
  harness = await startHarness(__filename, CDR_TEST_POLICIES, { worker: false });
});
afterAll(() => harness.stop());
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-cmr-'));
  rejections = [];
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('the real CUCM CDR and CMR files of one interval', () => {
  it('named as CUCM names them in one directory: the CMR file is read with its CDR file, both legs joined, both done', async () => {
    const name = 'cucmOHSUtest_2_202504181632_1';
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt'), join(dir, `cdr_${name}`));
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt'), join(dir, `cmr_${name}`));
    const ended: string[] = [];
    const { files } = await expandPaths([dir]);
    const summary = await ingestFiles(files, { ...options(), run: { fileEnd: (path, outcome) => ended.push(`${path.slice(dir.length + 1)} ${outcome.kind}`) } });
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, rejected_files: 0, unfinished: 0, records: 3, queued: 3, rejected: 0, quality_joined: 1, cmr_unmatched: 0 });
    expect(ended).toEqual([`cdr_${name} ingested`, `cmr_${name} cmr`]);
    expect(rejections).toEqual([]);
    expect(await readdir(dir)).toEqual([`cdr_${name}`, `cmr_${name}`]);
    const call = await harness.get('cdr-2-25447-47874239-47874240');
    expect(call?.event.quality).toMatchObject({
      orig: { device_name: 'SEPCC7F750586B7', directory_number: '5033466594', packets_sent: 559, packets_lost: 0, jitter_ms: 0, latency_ms: 1, vq: { CCR: 0, VoRxCodec: 'G.711 u-la' }, mos: null, cmr: { pkid: '60e07196-5c4f-407d-8c0b-01c8ebf8e164' } },
      dest: { device_name: 'SEPCC8E7148AD29', packets_sent: 555, vq: { CCR: 0.0011, ICRmx: 0.0034 } },
    });
    expect((await harness.get('cdr-2-25448-47874243-47874250'))?.event.quality).toEqual({ orig: null, dest: null });
    const ledger = new FileLedger(harness.runtime.redis, harness.prefix);
    expect(await ledger.done(await fileIdentity(join(dir, `cdr_${name}`)))).toMatchObject({ records: 3, quality_joined: 1, cmr_file: `cmr_${name}` });
    expect(await ledger.done(await fileIdentity(join(dir, `cmr_${name}`)))).toMatchObject({ kind: 'cmr', records: 2, joined: 2, unmatched: 0 });
    expect(await ingestFiles(files, options())).toMatchObject({ files: 0, cmr_files: 0, already_done: 2, queued: 0 });
  });

  // CUCM numbers a node's CDR and CMR files from one counter, so the two files of a minute never
  // share their sequence number (a real listing: cdr_..._202012260557_476630, cmr_..._476631).
  const cdrName = 'cdr_cucmOHSUtest_02_202504181632_476630';
  const cmrName = 'cmr_cucmOHSUtest_02_202504181632_476631';
  const copyUnderCucmNames = async () => {
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt'), join(dir, cdrName));
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt'), join(dir, cmrName));
  };

  it("pair by cluster, node and minute, whatever CUCM's sequence numbers: read together, both done", async () => {
    await copyUnderCucmNames();
    const { files } = await expandPaths([dir]);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual([cmrName, cdrName]); // a minute's CMR file first
    const ended: string[] = [];
    const summary = await ingestFiles(files, { ...options(), run: { fileEnd: (path, outcome) => ended.push(`${path.slice(dir.length + 1)} ${outcome.kind === 'cmr' ? outcome.role : outcome.kind}`) } });
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, unfinished: 0, records: 3, quality_joined: 1, cmr_unmatched: 0 });
    expect(ended).toEqual([`${cdrName} ingested`, `${cmrName} twin`]);
    expect((await harness.get('cdr-2-25447-47874239-47874240'))?.event.quality).toMatchObject({ orig: { device_name: 'SEPCC7F750586B7' }, dest: { device_name: 'SEPCC8E7148AD29' } });
    const ledger = new FileLedger(harness.runtime.redis, harness.prefix);
    expect(await ledger.done(await fileIdentity(join(dir, cdrName)))).toMatchObject({ quality_joined: 1, cmr_file: cmrName });
    expect(await ledger.done(await fileIdentity(join(dir, cmrName)))).toMatchObject({ kind: 'cmr', joined: 2, unmatched: 0 });
  });

  it('a CDR file named alone finds the CMR file of its minute beside it (dry run)', async () => {
    await copyUnderCucmNames();
    const path = join(dir, cdrName);
    const summary = await ingestFiles([path], { named: new Set([path]) });
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, records: 3, quality_joined: 1, cmr_unmatched: 0 });
  });
});

/** A watcher as `ingest-cdr --watch` runs one, recording what it hands over and what each file came to. */
function watch(timing: Pick<WatchOptions, 'settleMs' | 'cmrWaitMs'> & { holdMs?: number }) {
  const abort = new AbortController();
  const handed: { at: number; path: string; twin: string | undefined }[] = [];
  const ended: { path: string; outcome: FileOutcome }[] = [];
  const run = new IngestRun({ ...options({ signal: abort.signal }), run: { fileEnd: (path, outcome) => ended.push({ path, outcome }) } });
  const watching = watchDirs([dir], {
    intervalMs: 50,
    ...timing,
    signal: abort.signal,
    onFile: async (path, twin) => {
      handed.push({ at: Date.now(), path, twin });
      await run.file(path, twin);
    },
    onListing: () => run.releaseOrphans({ before: Date.now() - (timing.holdMs ?? 60_000), mark: true }),
  });
  return {
    handed,
    ended,
    roles: () => ended.map(({ path, outcome }) => `${path.slice(dir.length + 1)} ${outcome.kind === 'cmr' ? outcome.role : outcome.kind}`),
    async stop(): Promise<Summary> {
      abort.abort();
      await watching;
      await run.releaseOrphans({ mark: true });
      return run.finish();
    },
  };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const qualityOf = async (row: GeneratedRow | undefined) => (await harness.get(row?.expected?.call_id ?? ''))?.event.quality;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watch mode', () => {
  it('holds a complete CDR file until its CMR file, arriving later, is complete too, then reads both', async () => {
    const interval = syntheticInterval(25, 201, 2_000_000);
    const w = watch({ settleMs: 300, cmrWaitMs: 3000 });
    const cdr = join(dir, 'cdr_Gen_20_202601010000_1');
    const cmr = join(dir, 'cmr_Gen_20_202601010000_2'); // the node's next sequence number, as CUCM names it
    await writeFile(cdr, renderCdrFile(interval.rows));
    await sleep(900); // the CDR file is complete by now, and waits
    expect(w.handed).toEqual([]);
    const text = renderCmrFile(interval.cmr, { trailingNewline: false });
    await writeFile(cmr, text.slice(0, 2000)); // an upload in two writes
    await sleep(150);
    await writeFile(cmr, text);
    await until(() => w.ended.length >= 2);
    const summary = await w.stop();
    expect(w.handed.map(({ path, twin }) => [path, twin])).toEqual([[cdr, cmr]]);
    expect(w.roles()).toEqual(['cdr_Gen_20_202601010000_1 ingested', 'cmr_Gen_20_202601010000_2 twin']);
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, cmr_unmatched: 0, rejected: 0 });
    expect(rejections).toEqual([]);
    for (const row of interval.rows) expect(await qualityOf(row)).toMatchObject(interval.quality(row));
  });

  it('reads the real CUCM files of a minute together under their own sequence numbers, without waiting out --cmr-wait', async () => {
    const w = watch({ settleMs: 200, cmrWaitMs: 8000 });
    const cdr = join(dir, 'cdr_cucmOHSUtest_02_202504181633_476640'); // not the names above: those files are done
    const cmr = join(dir, 'cmr_cucmOHSUtest_02_202504181633_476641');
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt'), cdr);
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt'), cmr);
    await until(() => w.ended.length >= 2, 5000); // well inside --cmr-wait
    const summary = await w.stop();
    expect(w.handed.map(({ path, twin }) => [path, twin])).toEqual([[cdr, cmr]]);
    expect(w.roles()).toEqual(['cdr_cucmOHSUtest_02_202504181633_476640 ingested', 'cmr_cucmOHSUtest_02_202504181633_476641 twin']);
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, quality_joined: 1, cmr_unmatched: 0 });
  });

  it('lets a CDR file whose CMR file never comes go in without quality once --cmr-wait is over', async () => {
    const interval = syntheticInterval(10, 202, 2_100_000);
    const w = watch({ settleMs: 300, cmrWaitMs: 1000 });
    const written = Date.now();
    await writeFile(join(dir, 'cdr_Gen_21_202601010000_1'), renderCdrFile(interval.rows));
    await until(() => w.ended.length >= 1);
    const summary = await w.stop();
    expect(w.handed).toHaveLength(1);
    expect(w.handed[0]?.twin).toBeUndefined();
    expect((w.handed[0]?.at ?? 0) - written).toBeGreaterThanOrEqual(1300); // settle + the whole wait
    expect(summary).toMatchObject({ files: 1, cmr_files: 0, quality_joined: 0, queued: interval.rows.length });
    expect(await qualityOf(interval.rows[0])).toBeNull();
  });

  it('counts a CMR file that arrives after its CDR file went in as late, marks it done, and rejects nothing', async () => {
    const interval = syntheticInterval(10, 203, 2_200_000);
    const w = watch({ settleMs: 200, cmrWaitMs: 300 });
    await writeFile(join(dir, 'cdr_Gen_22_202601010000_1'), renderCdrFile(interval.rows));
    await until(() => w.ended.length >= 1);
    const cmr = join(dir, 'cmr_Gen_22_202601010000_2');
    await writeFile(cmr, renderCmrFile(interval.cmr));
    await until(() => w.ended.length >= 2);
    await sleep(300); // a few more listings: nothing is handed over again
    const summary = await w.stop();
    expect(w.roles()).toEqual(['cdr_Gen_22_202601010000_1 ingested', 'cmr_Gen_22_202601010000_2 late']);
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, cmr_unmatched: interval.cmr.length, rejected_files: 0, rejected: 0 });
    expect(await new FileLedger(harness.runtime.redis, harness.prefix).done(await fileIdentity(cmr))).toMatchObject({ kind: 'cmr', unmatched: interval.cmr.length });
    expect((await readdir(dir)).sort()).toEqual(['cdr_Gen_22_202601010000_1', 'cmr_Gen_22_202601010000_2']);
  });

  it('holds the rows of a CMR file without a CDR twin for CDR files that come later, then counts and marks it done', async () => {
    const interval = syntheticInterval(12, 204, 2_300_000);
    const w = watch({ settleMs: 200, cmrWaitMs: 300, holdMs: 1500 });
    const orphan = join(dir, 'cmr_Gen_23_202601010005_7'); // no CDR file of minute 00:05 ever comes
    await writeFile(orphan, renderCmrFile(interval.cmr));
    await until(() => w.handed.length >= 1);
    expect(w.ended).toEqual([]); // held, not finished
    await writeFile(join(dir, 'cdr_Gen_23_202601010000_1'), renderCdrFile(interval.rows)); // another minute, same calls
    await until(() => w.ended.length >= 2, 15_000);
    const summary = await w.stop();
    expect(w.roles()).toEqual(['cdr_Gen_23_202601010000_1 ingested', 'cmr_Gen_23_202601010005_7 orphan']);
    const expectedJoined = interval.rows.filter((r) => r.expected).map(interval.quality).filter((q) => q.orig || q.dest).length;
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, quality_joined: expectedJoined, cmr_unmatched: 0 });
    expect(await qualityOf(interval.rows[0])).toMatchObject(interval.quality(interval.rows[0] ?? { record: {} }));
    expect(await new FileLedger(harness.runtime.redis, harness.prefix).done(await fileIdentity(orphan))).toMatchObject({ kind: 'cmr', joined: interval.cmr.length, unmatched: 0 });
  });
});
