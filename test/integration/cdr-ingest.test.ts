import { appendFile, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileIdentity } from '../../src/cdr/identity';
import { ingestFile, type FileIngestOptions } from '../../src/cdr/ingest-file';
import { ingestFiles } from '../../src/cdr/ingest';
import { expandPaths } from '../../src/cdr/files';
import { readLayout } from '../../src/cdr/layout';
import { FileLedger } from '../../src/cdr/ledger';
import { watchDirs } from '../../src/cdr/watch';
import { jobIdFor } from '../../src/queue/calls-queue';
import { serializeEvent, type CallEvent } from '../../src/events/schema';
import { CDR_TEST_POLICIES, renderCdrFile, syntheticRows, writeCdrFile, writeCmrFile, type GeneratedRow } from '../helpers/cdr-generator';
import { startHarness } from '../helpers/harness';

const SAMPLES = resolve(__dirname, '../../../shared/cdr-samples');

let harness: Awaited<ReturnType<typeof startHarness>>;
let dir: string;
let rejections: string[];

function options(extra: Partial<FileIngestOptions> = {}): FileIngestOptions {
  const { runtime, prefix } = harness;
  return {
    enqueue: (events) => runtime.producer.enqueueSerialized(events),
    ledger: new FileLedger(runtime.redis, prefix),
    batchSize: 7,
    listener: { rejectedRecord: (file, line, reason) => rejections.push(`${file}:${line}: ${reason}`) },
    ...extra,
  };
}

const callsOf = (rows: GeneratedRow[]) => rows.flatMap((r) => (r.expected ? [r.expected] : []));

async function expectQueued(ids: string[]) {
  const states = await Promise.all(ids.map((id) => harness.runtime.queue.getJobState(jobIdFor(id))));
  expect(states.filter((s) => s !== 'waiting')).toEqual([]);
}

beforeAll(async () => {
  harness = await startHarness(__filename, CDR_TEST_POLICIES, { worker: false });
});
afterAll(() => harness.stop());
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-ingest-'));
  rejections = [];
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('real CUCM files', () => {
  it('queue every call record with its event, and are done after one pass', async () => {
    const files = [join(SAMPLES, 'reminisc3-CSVUtil/cdr_StandAloneCluster_04_201601141231_120716.csv'), join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt')];
    const summary = await ingestFiles(files, options({ policy: 'default' }));
    expect(summary).toMatchObject({ files: 2, records: 5, queued: 5, duplicates: 0, rejected: 0, skipped: 0 });
    const call = await harness.get('cdr-2-25447-47874239-47874240');
    expect(call).toMatchObject({ status: 'queued', event: { calling_number: '5033466594', called_number: '5033466593', orig_ip: '10.248.64.14', dest_ip: '10.248.64.17', duration: 11, policy: 'default' } });
    expect((call?.event as unknown as { cdr: Record<string, string> }).cdr.pkid).toBe('ed56fecd-bd2d-48d4-ae03-7ee3766d6048');
    expect(await harness.get('cdr-4-872185-75390595-75390608')).toMatchObject({ event: { calling_number: '3365585309', called_number: '912677679721', orig_ip: '172.16.11.1' } });
    await expectQueued(['cdr-4-872185-75390595-75390608', 'cdr-4-872186-75390609-75390612', 'cdr-2-25449-47874246-47874248', 'cdr-2-25448-47874243-47874250', 'cdr-2-25447-47874239-47874240']);

    const again = await ingestFiles(files, options());
    expect(again).toMatchObject({ files: 0, already_done: 2, queued: 0 });
  });

  it('leaves the real CMR file alone in a dry run and calls it not CDR', async () => {
    const outcome = await ingestFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt'), {});
    expect(outcome).toEqual({ kind: 'not-cdr', reason: 'CMR file (call quality records), not call detail records', movedTo: undefined });
  });
});

describe('a drop directory', () => {
  it('ingests calls, reports bad records by file and line, and moves non-CDR files aside', async () => {
    const good = syntheticRows(50, 11, 200_000);
    const damaged = syntheticRows(20, 12, 300_000);
    await writeCdrFile(join(dir, 'cdr_Gen_01_202601010000_1'), good, { quoting: 'odd' });
    // Line 5 is damaged (an unterminated quote), the last line is cut off mid-record.
    const lines = renderCdrFile(damaged).split('\n');
    lines[4] = lines[4]?.replace(/,"([^"]*)",/, ',"$1,') ?? '';
    lines[21] = lines[21]?.slice(0, 200) ?? '';
    await writeFile(join(dir, 'cdr_Gen_01_202601010001_2'), lines.slice(0, 22).join('\n'));
    await writeCmrFile(join(dir, 'cmr_Gen_01_202601010000_1'));
    await writeFile(join(dir, 'notes.txt'), 'hello\nworld\n');
    await writeFile(join(dir, 'cdr_Gen_01_202601010002_3.part'), 'still uploading');

    const { files } = await expandPaths([dir]);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['cdr_Gen_01_202601010000_1', 'cdr_Gen_01_202601010001_2', 'cmr_Gen_01_202601010000_1', 'notes.txt']);
    const summary = await ingestFiles(files, options());
    expect(summary).toMatchObject({ files: 2, rejected_files: 2, records: 70, queued: 68, rejected: 2, duplicates: 0 });
    expect(rejections).toEqual([
      `${join(dir, 'cdr_Gen_01_202601010001_2')}:5: unexpected character after closing quote of field 9`,
      `${join(dir, 'cdr_Gen_01_202601010001_2')}:22: unterminated quoted field 51 (last line has no line ending: file cut short?)`,
    ]);
    const expected = [...callsOf(good), ...callsOf(damaged).filter((_, i) => i !== 2 && i !== 19)];
    await expectQueued(expected.map((c) => c.call_id));
    for (const call of [expected[0], expected[9], expected[10], expected[60]]) {
      expect(await harness.get(call?.call_id ?? '')).toMatchObject({ event: call });
    }
    expect((await readdir(join(dir, 'rejected'))).sort()).toEqual(['cmr_Gen_01_202601010000_1', 'cmr_Gen_01_202601010000_1.reason', 'notes.txt', 'notes.txt.reason']);
    expect(await readFile(join(dir, 'rejected', 'notes.txt.reason'), 'utf8')).toMatch(/^not a CUCM CDR file: header lacks cdrRecordType/);
    expect(await readFile(join(dir, 'rejected', 'cmr_Gen_01_202601010000_1.reason'), 'utf8')).toBe('CMR file (call quality records), not call detail records\n');
  });

  it('reports but does not move a non-CDR file named on the command line', async () => {
    const path = join(dir, 'cmr_named');
    await writeCmrFile(path);
    expect(await ingestFiles([path], { ...options(), named: new Set([path]) })).toMatchObject({ rejected_files: 1 });
    expect(await readdir(dir)).toEqual(['cmr_named']);
  });

  it('queues nothing new when files are ingested again, under any name', async () => {
    const rows = syntheticRows(40, 21, 400_000);
    const path = join(dir, 'cdr_Gen_02_202601010000_1');
    await writeCdrFile(path, rows);
    expect(await ingestFiles([path], options())).toMatchObject({ files: 1, queued: 40, duplicates: 0 });
    expect(await ingestFiles([path], options())).toMatchObject({ files: 0, already_done: 1, queued: 0 });
    const copy = join(dir, 'cdr_Gen_02_202601010000_1.copy');
    await copyFile(path, copy);
    expect(await ingestFiles([copy], options())).toMatchObject({ files: 1, queued: 0, duplicates: 40 });
  });

  it('queues each call once when two ingesters read the same file at the same time', async () => {
    const rows = syntheticRows(60, 25, 450_000);
    const path = join(dir, 'cdr_Gen_02_202601010000_2');
    await writeCdrFile(path, rows);
    const [a, b] = await Promise.all([ingestFile(path, options({ batchSize: 5 })), ingestFile(path, options({ batchSize: 5 }))]);
    if (a.kind !== 'ingested' || b.kind !== 'ingested') throw new Error(`unexpected ${a.kind} ${b.kind}`);
    expect(a.counts.queued + b.counts.queued).toBe(60);
    expect(await harness.runtime.queue.getWaitingCount()).toBeGreaterThanOrEqual(60);
    await expectQueued(callsOf(rows).map((c) => c.call_id));
  });

  it('does not queue or move anything in a dry run', async () => {
    const rows = syntheticRows(10, 31, 500_000);
    await writeCdrFile(join(dir, 'cdr_a'), rows);
    await writeCmrFile(join(dir, 'cmr_a'));
    const { files } = await expandPaths([dir]);
    expect(await ingestFiles(files, {})).toMatchObject({ files: 1, rejected_files: 1, queued: 10 });
    expect(await harness.get(rows[0]?.expected?.call_id ?? '')).toBeUndefined();
    expect((await readdir(dir)).sort()).toEqual(['cdr_a', 'cmr_a']);
  });
});

describe('resuming', () => {
  it('starts at the checkpoint and re-adds jobs lost between marking and queueing', async () => {
    const rows = syntheticRows(30, 41, 600_000);
    const path = join(dir, 'cdr_resume');
    await writeCdrFile(path, rows);
    const calls = callsOf(rows);
    const head = await readLayout(path);
    if (!head.ok) throw new Error(head.reason);
    // A previous run checkpointed after record 10, then marked records 11-15 and was killed before addBulk.
    const lines = renderCdrFile(rows).split('\n');
    const offsetOfLine = (n: number) => lines.slice(0, n - 1).reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0);
    const ledger = new FileLedger(harness.runtime.redis, harness.prefix);
    await ledger.saveCheckpoint(await fileIdentity(path), { line: 13, offset: offsetOfLine(13) });
    await harness.runtime.producer.enqueue(calls.slice(0, 10) as unknown as CallEvent[]);
    await harness.runtime.store.markQueued((calls.slice(10, 15) as unknown as CallEvent[]).map(serializeEvent));

    const outcome = await ingestFile(path, options({ batchSize: 4 }));
    // 11-15 come back as duplicates (they were marked), and the producer re-adds their lost jobs.
    expect(outcome).toMatchObject({ kind: 'ingested', resumedFromLine: 13, counts: { records: 20, queued: 15, duplicates: 5 } });
    await expectQueued(calls.map((c) => c.call_id));
    expect(await ledger.checkpoint(await fileIdentity(path))).toBeUndefined();
    expect(await ledger.done(await fileIdentity(path))).toMatchObject({ records: 20, queued: 15, duplicates: 5 });
  });

  it('leaves a file unfinished, resumable, when stopped', async () => {
    const rows = syntheticRows(30, 51, 700_000);
    const path = join(dir, 'cdr_stop');
    await writeCdrFile(path, rows);
    const abort = new AbortController();
    let seen = 0;
    const first = await ingestFile(path, options({ batchSize: 5, signal: abort.signal, listener: { advance: (_b, r) => (seen += r) >= 10 && abort.abort() } }));
    expect(first).toMatchObject({ kind: 'ingested', interrupted: true });
    const second = await ingestFile(path, options({ batchSize: 5 }));
    expect(second).toMatchObject({ kind: 'ingested', interrupted: false });
    if (first.kind !== 'ingested' || second.kind !== 'ingested') throw new Error('unexpected');
    expect(second.resumedFromLine).toBeGreaterThan(3);
    expect(first.counts.queued + second.counts.queued).toBe(30);
    await expectQueued(callsOf(rows).map((c) => c.call_id));
  });
});

describe('watch mode', () => {
  it('ingests a file written in two writes once, when complete', async () => {
    const rows = syntheticRows(25, 61, 800_000);
    const text = renderCdrFile(rows);
    const cut = Math.floor(text.length / 2);
    const path = join(dir, 'cdr_Gen_03_202601010000_1');
    await mkdir(dir, { recursive: true });
    const abort = new AbortController();
    const handled: string[] = [];
    const watching = watchDirs([dir], {
      intervalMs: 50,
      settleMs: 400,
      signal: abort.signal,
      onFile: async (file) => {
        handled.push(file);
        await ingestFile(file, options());
      },
    });
    await writeFile(path, text.slice(0, cut)); // first write ends mid-record
    await new Promise((r) => setTimeout(r, 250));
    expect(handled).toEqual([]);
    await appendFile(path, text.slice(cut));
    const deadline = Date.now() + 10_000;
    while (handled.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // a few more listings: the file must not come back
    abort.abort();
    await watching;
    expect(handled).toEqual([path]);
    expect(rejections).toEqual([]);
    await expectQueued(callsOf(rows).map((c) => c.call_id));
  });
});
