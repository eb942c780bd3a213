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
import { CDR_TEST_POLICIES, renderCdrFile, renderCmrFile, syntheticInterval, syntheticRows, writeCdrFile, writeCmrFile, writeInterval, type GeneratedRow } from '../helpers/cdr-generator';
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

  it('the real CMR file under its own name alone: recognised, its rows counted as unmatched, not rejected', async () => {
    const path = join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt');
    const summary = await ingestFiles([path], { named: new Set([path]) }); // a dry run: nothing marked
    expect(summary).toMatchObject({ files: 0, cmr_files: 1, rejected_files: 0, cmr_unmatched: 2, rejected: 0 });
    const direct = await ingestFile(path, {});
    expect(direct).toMatchObject({ kind: 'not-cdr', movedTo: undefined, reason: expect.stringContaining('CMR file') });
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
    // Line 8 holds NUL bytes, as a block damaged on disk does: that record alone is rejected.
    lines[7] = lines[7]?.replace(/,"([^"]*)",/, ',"$1\0\0",') ?? '';
    await writeFile(join(dir, 'cdr_Gen_01_202601010001_2'), lines.slice(0, 22).join('\n'));
    await writeCmrFile(join(dir, 'cmr_Gen_01_202601010000_1'));
    await writeFile(join(dir, 'notes.txt'), 'hello\nworld\n');
    await writeFile(join(dir, 'cdr_Bin_01_202601010003_4'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 10, 0, 10]));
    await writeFile(join(dir, 'cdr_Gen_01_202601010002_3.part'), 'still uploading');

    const { files } = await expandPaths([dir]);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['cdr_Bin_01_202601010003_4', 'cmr_Gen_01_202601010000_1', 'cdr_Gen_01_202601010000_1', 'cdr_Gen_01_202601010001_2', 'notes.txt']);
    const summary = await ingestFiles(files, options());
    // The CMR file's one row is for a call that is not in its CDR twin: unmatched, not an error.
    expect(summary).toMatchObject({ files: 2, cmr_files: 1, rejected_files: 2, records: 70, queued: 67, rejected: 3, duplicates: 0, cmr_unmatched: 1, quality_joined: 0 });
    expect(rejections).toEqual([
      `${join(dir, 'cdr_Gen_01_202601010001_2')}:5: unexpected character after closing quote of field 9`,
      `${join(dir, 'cdr_Gen_01_202601010001_2')}:8: holds NUL bytes (damaged on disk?)`,
      `${join(dir, 'cdr_Gen_01_202601010001_2')}:22: unterminated quoted field 51 (last line has no line ending: file cut short?)`,
    ]);
    const expected = [...callsOf(good), ...callsOf(damaged).filter((_, i) => i !== 2 && i !== 5 && i !== 19)];
    await expectQueued(expected.map((c) => c.call_id));
    for (const call of [expected[0], expected[9], expected[10], expected[60]]) {
      expect(await harness.get(call?.call_id ?? '')).toMatchObject({ event: call });
    }
    expect((await readdir(join(dir, 'rejected'))).sort()).toEqual(['cdr_Bin_01_202601010003_4', 'cdr_Bin_01_202601010003_4.reason', 'notes.txt', 'notes.txt.reason']);
    expect(await readFile(join(dir, 'rejected', 'cdr_Bin_01_202601010003_4.reason'), 'utf8')).toMatch(/^binary file, not a CUCM CDR or CMR file/);
    expect(await readFile(join(dir, 'rejected', 'notes.txt.reason'), 'utf8')).toMatch(/^not a CUCM CDR or CMR file: header lacks cdrRecordType/);
  });

  it('reports but does not move a file that is neither CDR nor CMR when it was named on the command line', async () => {
    const path = join(dir, 'cdr_named');
    await writeFile(path, 'hello\n');
    expect(await ingestFiles([path], { ...options(), named: new Set([path]) })).toMatchObject({ rejected_files: 1 });
    expect(await readdir(dir)).toEqual(['cdr_named']);
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

  it('skips lines of nothing but spaces, as it skips empty ones: no rejected record', async () => {
    const rows = syntheticRows(3, 33, 600_000);
    const lines = renderCdrFile(rows).split('\n');
    lines.splice(3, 0, '   ', '\t');
    await writeFile(join(dir, 'cdr_blank'), lines.join('\n'));
    const { files } = await expandPaths([join(dir, 'cdr_blank')]);
    expect(await ingestFiles(files, {})).toMatchObject({ files: 1, queued: 3, rejected: 0 });
  });

  it('does not queue or move anything in a dry run', async () => {
    const rows = syntheticRows(10, 31, 500_000);
    await writeCdrFile(join(dir, 'cdr_a'), rows);
    await writeCmrFile(join(dir, 'cmr_a'));
    const { files } = await expandPaths([dir]);
    expect(await ingestFiles(files, {})).toMatchObject({ files: 1, cmr_files: 1, rejected_files: 0, queued: 10, cmr_unmatched: 1 });
    expect(await harness.get(rows[0]?.expected?.call_id ?? '')).toBeUndefined();
    expect((await readdir(dir)).sort()).toEqual(['cdr_a', 'cmr_a']);
    const ledger = new FileLedger(harness.runtime.redis, harness.prefix);
    expect(await ledger.done(await fileIdentity(join(dir, 'cmr_a')))).toBeUndefined();
    expect(await ledger.done(await fileIdentity(join(dir, 'cdr_a')))).toBeUndefined();
  });
});

describe('CDR and CMR files of generated intervals', () => {
  const ledger = () => new FileLedger(harness.runtime.redis, harness.prefix);
  const qualityOf = async (row: GeneratedRow | undefined) => (await harness.get(row?.expected?.call_id ?? ''))?.event.quality;

  it('joins multi-leg calls and leaves null the legs without a CMR row; both files of each interval are done', async () => {
    const a = syntheticInterval(60, 101, 1_000_000);
    const b = syntheticInterval(45, 102, 1_100_000);
    const pa = await writeInterval(dir, 'Gen_07_202601010000_1', a);
    const pb = await writeInterval(dir, 'Gen_07_202601010001_2', b);
    const { files } = await expandPaths([dir]);
    const summary = await ingestFiles(files, options({ batchSize: 8 }));
    const expectedJoined = [a, b].flatMap((i) => i.rows.filter((r) => r.expected).map(i.quality)).filter((q) => q.orig || q.dest).length;
    expect(summary).toMatchObject({ files: 2, cmr_files: 2, rejected_files: 0, records: a.rows.length + b.rows.length, queued: a.rows.length + b.rows.length, rejected: 0, quality_joined: expectedJoined, cmr_unmatched: 0 });
    expect(rejections).toEqual([]);
    for (const [interval, i] of [[a, 9], [a, 10], [a, 11], [a, 0], [b, 3], [b, 17]] as const) {
      expect(await qualityOf(interval.rows[i])).toMatchObject(interval.quality(interval.rows[i] ?? { record: {} }));
    }
    // Rows 9-11 are one transferred call: the calling leg's one CMR row is in records 9 and 11.
    expect(a.quality(a.rows[9] ?? { record: {} }).orig).toEqual(a.quality(a.rows[11] ?? { record: {} }).orig);
    expect(await ledger().done(await fileIdentity(pa.cmr))).toMatchObject({ kind: 'cmr', records: a.cmr.length, joined: a.cmr.length, unmatched: 0 });
    expect(await ledger().done(await fileIdentity(pb.cdr))).toMatchObject({ cmr_file: 'cmr_Gen_07_202601010001_2' });
  });

  it('joins a CMR file without a CDR twin by key to the CDR files of the run, counts what stays unmatched and marks it done', async () => {
    const interval = syntheticInterval(30, 103, 1_200_000);
    await writeCdrFile(join(dir, 'cdr_Gen_08_202601010000_1'), interval.rows);
    // The CMR rows under another interval's name (another minute), plus one row for no call.
    const orphan = join(dir, 'cmr_Gen_08_202601010005_9');
    await writeFile(orphan, renderCmrFile([...interval.cmr, { ...interval.cmr[0], globalCallID_callId: 7 }]));
    const { files } = await expandPaths([dir]);
    const ended: string[] = [];
    const summary = await ingestFiles(files, { ...options(), run: { fileEnd: (path, outcome) => ended.push(`${path.slice(dir.length + 1)} ${outcome.kind === 'cmr' ? outcome.role : outcome.kind}`) } });
    const expectedJoined = interval.rows.filter((r) => r.expected).map(interval.quality).filter((q) => q.orig || q.dest).length;
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, rejected_files: 0, quality_joined: expectedJoined, cmr_unmatched: 1 });
    expect(ended).toEqual(['cdr_Gen_08_202601010000_1 ingested', 'cmr_Gen_08_202601010005_9 orphan']);
    // Without its interval's CMR file, a call no row covers has unknown quality: null.
    const uncovered = interval.rows.find((r) => r.expected && !interval.quality(r).orig && !interval.quality(r).dest);
    expect(await qualityOf(uncovered)).toBeNull();
    expect(await qualityOf(interval.rows[1])).toMatchObject(interval.quality(interval.rows[1] ?? { record: {} }));
    expect(await ledger().done(await fileIdentity(orphan))).toMatchObject({ kind: 'cmr', records: interval.cmr.length + 1, joined: interval.cmr.length, unmatched: 1 });
  });

  it('counts a CMR file whose CDR file went in without it as late, and marks it done; nothing is rejected', async () => {
    const interval = syntheticInterval(20, 104, 1_300_000);
    const paths = await writeInterval(dir, 'Gen_09_202601010000_1', interval);
    expect(await ingestFiles([paths.cdr, paths.cmr], { ...options(), cmr: false })).toMatchObject({ files: 1, cmr_files: 1, quality_joined: 0, cmr_unmatched: 0 });
    expect(await qualityOf(interval.rows[0])).toBeNull();
    expect(await ledger().done(await fileIdentity(paths.cmr))).toBeUndefined(); // --no-cmr leaves it alone
    const roles: string[] = [];
    const again = await ingestFiles([paths.cdr, paths.cmr], { ...options(), run: { fileEnd: (_p, o) => roles.push(o.kind === 'cmr' ? o.role : o.kind) } });
    expect(again).toMatchObject({ files: 0, already_done: 1, cmr_files: 1, cmr_unmatched: interval.cmr.length, rejected_files: 0, rejected: 0 });
    expect(roles).toEqual(['already-done', 'late']);
    expect(await ledger().done(await fileIdentity(paths.cmr))).toMatchObject({ kind: 'cmr', joined: 0, unmatched: interval.cmr.length });
    expect(await readdir(dir)).toEqual(['cdr_Gen_09_202601010000_1', 'cmr_Gen_09_202601010000_1']);
  });

  it('reads the CMR twin of a CDR file named alone', async () => {
    const interval = syntheticInterval(10, 105, 1_400_000);
    const paths = await writeInterval(dir, 'Gen_10_202601010000_1', interval);
    const summary = await ingestFiles([paths.cdr], { ...options(), named: new Set([paths.cdr]) });
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, cmr_unmatched: 0 });
    expect(await qualityOf(interval.rows[0])).toMatchObject(interval.quality(interval.rows[0] ?? { record: {} }));
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

  it('reads the CMR twin again when a CDR file resumes, so records after the checkpoint still get their quality', async () => {
    const interval = syntheticInterval(30, 106, 1_500_000);
    const paths = await writeInterval(dir, 'Gen_11_202601010000_1', interval);
    const lines = renderCdrFile(interval.rows).split('\n');
    const offsetOfLine = (n: number) => lines.slice(0, n - 1).reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0);
    const ledger = new FileLedger(harness.runtime.redis, harness.prefix);
    await ledger.saveCheckpoint(await fileIdentity(paths.cdr), { line: 23, offset: offsetOfLine(23) });

    const summary = await ingestFiles([paths.cdr, paths.cmr], options({ batchSize: 4 }));
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, records: interval.rows.length - 20, unfinished: 0 });
    for (const row of interval.rows.slice(20)) {
      expect((await harness.get(row.expected?.call_id ?? ''))?.event.quality).toMatchObject(interval.quality(row));
    }
    expect(await harness.get(interval.rows[0]?.expected?.call_id ?? '')).toBeUndefined(); // before the checkpoint: not read again
    expect(await ledger.done(await fileIdentity(paths.cmr))).toMatchObject({ kind: 'cmr', records: interval.cmr.length });
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
  it('a file that keeps failing is tried again less and less often; a handled file that changes is handed over again', async () => {
    const watched = await mkdtemp(join(tmpdir(), 'cdr-watch-'));
    const path = join(watched, 'cdr_Gen_09_202601010000_1');
    await writeFile(path, 'first');
    const abort = new AbortController();
    const errors: number[] = [];
    const handed: string[] = [];
    let failing = true;
    const watching = watchDirs([watched], {
      intervalMs: 20,
      settleMs: 40,
      pairs: false,
      signal: abort.signal,
      onFile: async (file) => {
        handed.push(await readFile(file, 'utf8'));
        if (failing) throw new Error('EACCES: permission denied');
      },
      onError: () => errors.push(Date.now()),
    });
    await new Promise((r) => setTimeout(r, 1500));
    // Every listing (20 ms) would be some 70 errors; doubling gaps (40, 80, 160... ms) a handful.
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors.length).toBeLessThanOrEqual(7);
    const gaps = errors.slice(1).map((t, i) => t - errors[i]!);
    expect(gaps.every((gap, i) => i === 0 || gap > gaps[i - 1]!)).toBe(true);
    failing = false;
    await writeFile(path, 'second'); // changed: tried at once, without waiting out the failures
    const deadline = Date.now() + 5000;
    while (handed.at(-1) !== 'second' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(handed.at(-1)).toBe('second');
    const handedBefore = handed.length;
    await writeFile(path, 'third'); // handled files are looked at again on one listing in 60
    while (handed.at(-1) !== 'third' && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 20));
    expect(handed.slice(handedBefore)).toEqual(['third']);
    abort.abort();
    await watching;
    await rm(watched, { recursive: true, force: true });
  });

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
      cmrWaitMs: 200, // no CMR twin comes: it goes in alone after this
      signal: abort.signal,
      onFile: async (file, twin) => {
        handled.push(file);
        expect(twin).toBeUndefined();
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
