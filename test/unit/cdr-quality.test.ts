import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { CmrIndex, joinSource } from '../../src/cdr/cmr-index';
import { parseCsvLine } from '../../src/cdr/csv';
import { intervalOf, planRun, sortByInterval } from '../../src/cdr/intervals';
import { layoutFrom, readLayout } from '../../src/cdr/layout';
import { readLines } from '../../src/cdr/line-reader';
import { mapRecord } from '../../src/cdr/map';
import { legQuality, type CallQuality, type QualitySource } from '../../src/cdr/quality';
import { parseVqMetrics } from '../../src/cdr/vq';
import type { CallEvent } from '../../src/events/schema';
import { eventJson, parseEvent } from '../../src/events/schema';
import { skipResult } from '../../src/pipeline/result';
import { parseConfig } from '../../src/policies/load';
import { renderBody } from '../../src/templates/body';
import { CMR_FIELDS, renderCdrFile, renderCmrFile, renderHeader, syntheticInterval } from '../helpers/cdr-generator';

const SAMPLES = resolve(__dirname, '../../../shared/cdr-samples');
const CUCM14 = join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt');
const CMR = join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt');

/** A CMR file's rows in an index, as a run reads a CDR file's twin. */
async function indexOf(path: string, rejections: string[] = []): Promise<{ index: CmrIndex; file: NonNullable<Awaited<ReturnType<CmrIndex['add']>>> }> {
  const head = await readLayout(path);
  if (!head.ok || head.kind !== 'cmr') throw new Error(`not a CMR file: ${JSON.stringify(head)}`);
  const index = new CmrIndex();
  const file = await index.add(path, head, { listener: { rejectedRecord: (f, line, reason) => rejections.push(`${basename(f)}:${line}: ${reason}`) } });
  if (!file) throw new Error('interrupted');
  return { index, file };
}

/** Every call event of a CDR file, joined with `quality`. */
async function eventsOf(path: string, quality: QualitySource | undefined): Promise<CallEvent[]> {
  const head = await readLayout(path);
  if (!head.ok || head.kind !== 'cdr') throw new Error('not a CDR file');
  const events: CallEvent[] = [];
  for await (const line of readLines(path, { offset: head.dataOffset, line: 3 })) {
    if (line.text === '') continue;
    const csv = parseCsvLine(line.text);
    if (!csv.ok) throw new Error(csv.reason);
    const mapped = mapRecord(csv.fields, head.layout, { file: basename(path), line: line.number, quality });
    if (mapped.kind !== 'event') throw new Error(JSON.stringify(mapped));
    events.push(mapped.event);
  }
  return events;
}

const qualityOf = (event: CallEvent | undefined) => event?.quality as CallQuality | null | undefined;

describe('parseVqMetrics', () => {
  it('reads the real varVQMetrics string: numbers as numbers, the codec as text', () => {
    expect(parseVqMetrics('CCR=0.0011;ICR=0.0000;ICRmx=0.0034;CS=1;SCS=0;Ver=0.90;VoRxCodec=G.711 u-la;CID=4;VoPktSizeMs=20;VoPktLost=0;VoPktDis=1;VoOneWayDelayMs=0;maxJitter=8')).toEqual({
      CCR: 0.0011,
      ICR: 0,
      ICRmx: 0.0034,
      CS: 1,
      SCS: 0,
      Ver: 0.9,
      VoRxCodec: 'G.711 u-la',
      CID: 4,
      VoPktSizeMs: 20,
      VoPktLost: 0,
      VoPktDis: 1,
      VoOneWayDelayMs: 0,
      maxJitter: 8,
    });
  });
  it('reads MLQK and keeps a codec that looks like a number as text', () => {
    expect(parseVqMetrics('MLQK=4.5000;MLQKav=4.4000;MLQKvr=0.95;VoRxCodec=729')).toEqual({ MLQK: 4.5, MLQKav: 4.4, MLQKvr: 0.95, VoRxCodec: '729' });
  });
  it('is null for a device that reports nothing', () => {
    expect(parseVqMetrics('')).toBeNull();
    expect(parseVqMetrics(';;')).toBeNull();
  });
  it('leaves out items without a value name, and names that are not plain identifiers', () => {
    const parsed = parseVqMetrics('CCR=0.5;=3;junk;__proto__=1;a.b=2;Note= x y ');
    expect(parsed).toEqual({ CCR: 0.5, Note: 'x y' });
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });
});

describe("a leg's MOS", () => {
  const layout = layoutFrom('"cdrRecordType","globalCallID_callManagerId","globalCallID_callId","callIdentifier","varVQMetrics"', 'INTEGER,INTEGER,INTEGER,INTEGER,VARCHAR(600)');
  const scoresOf = (varVQMetrics: string) => {
    if (!layout.ok) throw new Error(layout.reason);
    const { mos, mos_min } = legQuality(['2', '1', '1', '1', varVQMetrics], layout.layout);
    return { mos, mos_min };
  };

  it("is the stream's average (MLQKav), not the last 8 seconds (MLQK), with its worst 8 seconds (MLQKmn)", () => {
    expect(scoresOf('CCR=0.0011;MLQK=2.1000;MLQKav=4.3000;MLQKmn=2.0000;MLQKmx=4.5000;MLQKvr=0.95')).toEqual({ mos: 4.3, mos_min: 2 });
  });
  it('falls back to MLQK from a phone that reports no average, and is null where a score is 0 (not computed) or absent', () => {
    expect(scoresOf('MLQK=3.9000')).toEqual({ mos: 3.9, mos_min: null });
    expect(scoresOf('MLQK=3.9000;MLQKav=0.0000')).toEqual({ mos: 3.9, mos_min: null });
    expect(scoresOf('MLQK=0.0000;MLQKav=0.0000;MLQKmn=0.0000')).toEqual({ mos: null, mos_min: null });
    expect(scoresOf('CCR=0.0000;VoRxCodec=G.711 u-la')).toEqual({ mos: null, mos_min: null });
  });
});

describe('CMR headers', () => {
  it('recognises the real CMR file by its header', async () => {
    const head = await readLayout(CMR);
    expect(head).toMatchObject({ ok: true, kind: 'cmr' });
    expect(head.ok && head.layout.names).toHaveLength(48);
  });
  it('recognises a minimal CMR header and names what a CMR header lacks', () => {
    expect(layoutFrom('"cdrRecordType","globalCallID_callManagerId","globalCallID_callId","callIdentifier","numberPacketsLost"', 'INTEGER,INTEGER,INTEGER,INTEGER,INTEGER')).toMatchObject({ ok: true, kind: 'cmr' });
    expect(layoutFrom('"cdrRecordType","globalCallID_callId","numberPacketsLost","varVQMetrics"', 'INTEGER,INTEGER,INTEGER,VARCHAR(600)')).toEqual({
      ok: false,
      reason: 'CMR header lacks globalCallID_callManagerId, callIdentifier',
    });
    expect(layoutFrom(renderHeader(CMR_FIELDS).split('\n')[0], 'INTEGER')).toMatchObject({ ok: false, reason: expect.stringContaining('line 2 is not the CMR type line') });
  });
});

describe('real CUCM 14/15 CDR and CMR files of one call', () => {
  it('join both legs of call 2-25447 field by field', async () => {
    const { index, file } = await indexOf(CMR);
    const events = await eventsOf(CUCM14, joinSource(index, undefined));
    const call = events.find((e) => e.call_id === 'cdr-2-25447-47874239-47874240');
    const quality = qualityOf(call);
    expect(quality?.orig).toEqual({
      device_name: 'SEPCC7F750586B7',
      directory_number: '5033466594',
      packets_sent: 559,
      packets_received: 555,
      packets_lost: 0,
      octets_sent: 89440,
      octets_received: 95288,
      jitter_ms: 0,
      latency_ms: 1,
      vq: { CCR: 0, ICR: 0, ICRmx: 0, CS: 0, SCS: 0, Ver: 0.9, VoRxCodec: 'G.711 u-la', CID: 4, VoPktSizeMs: 20, VoPktLost: 0, VoPktDis: 1, VoOneWayDelayMs: 1, maxJitter: 0 },
      mos: null,
      mos_min: null,
      cmr: expect.objectContaining({
        cdrRecordType: '2',
        globalCallID_callManagerId: '2',
        globalCallID_callId: '25447',
        callIdentifier: '47874239',
        dateTimeStamp: '1744993941',
        pkid: '60e07196-5c4f-407d-8c0b-01c8ebf8e164',
        directoryNumPartition: 'OnNet',
        globalCallId_ClusterID: 'cucmOHSUtest',
        varVQMetrics: 'CCR=0.0000;ICR=0.0000;ICRmx=0.0000;CS=0;SCS=0;Ver=0.90;VoRxCodec=G.711 u-la;CID=4;VoPktSizeMs=20;VoPktLost=0;VoPktDis=1;VoOneWayDelayMs=1;maxJitter=0',
        duration: '11',
        videoDuration: '',
        localSessionID: '0e7ca15300105000a000cc7f750586b7',
        remoteSessionID: '45a03cac00105000a000cc8e7148ad29',
        headsetMetrics: '',
      }),
    });
    expect(Object.keys(quality?.orig?.cmr ?? {})).toHaveLength(48);
    expect(quality?.dest).toEqual({
      device_name: 'SEPCC8E7148AD29',
      directory_number: '5033466593',
      packets_sent: 555,
      packets_received: 559,
      packets_lost: 0,
      octets_sent: 88800,
      octets_received: 95976,
      jitter_ms: 0,
      latency_ms: 1,
      vq: { CCR: 0.0011, ICR: 0, ICRmx: 0.0034, CS: 1, SCS: 0, Ver: 0.9, VoRxCodec: 'G.711 u-la', CID: 4, VoPktSizeMs: 20, VoPktLost: 0, VoPktDis: 1, VoOneWayDelayMs: 0, maxJitter: 8 },
      mos: null,
      mos_min: null,
      cmr: expect.objectContaining({ callIdentifier: '47874240', pkid: '6e79670e-aa95-4cb2-81d2-99d3be0cb8b1', deviceName: 'SEPCC8E7148AD29', localSessionID: '45a03cac00105000a000cc8e7148ad29' }),
    });
    // The two recording legs have no CMR row: their interval's CMR file was read, so each leg is null.
    expect(events.filter((e) => e !== call).map(qualityOf)).toEqual([
      { orig: null, dest: null },
      { orig: null, dest: null },
    ]);
    index.release(new Set([file]));
    expect(file.counts).toEqual({ records: 2, joined: 2, unmatched: 0, rejected: 0, skipped: 0 });
  });

  it('give events that pass the API validation unchanged, within the size limit', async () => {
    const { index } = await indexOf(CMR);
    for (const event of await eventsOf(CUCM14, joinSource(index, undefined))) {
      expect(parseEvent(event)).toEqual({ ok: true, event });
      expect(eventJson(event)).toBe(JSON.stringify(event));
    }
  });

  it('leave quality null when no CMR file was read', async () => {
    for (const event of await eventsOf(CUCM14, undefined)) expect(event.quality).toBeNull();
  });
});

describe('generated CDR and CMR files in the real layout', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdr-quality-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('join every leg of multi-leg calls, and null for legs without a CMR row', async () => {
    const interval = syntheticInterval(120, 5, 610_000);
    await writeFile(join(dir, 'cmr_a'), renderCmrFile(interval.cmr, { trailingNewline: false }));
    await writeFile(join(dir, 'cdr_a'), renderCdrFile(interval.rows));
    const { index, file } = await indexOf(join(dir, 'cmr_a'));
    const events = await eventsOf(join(dir, 'cdr_a'), joinSource(index, undefined));
    expect(events).toHaveLength(interval.rows.length);
    const expected = interval.rows.map(interval.quality);
    events.forEach((event, i) => expect(event.quality).toMatchObject(expected[i] ?? {}));
    // The data covers what the join has to handle:
    const transfer = events.filter((e) => e.global_call_id === events[9]?.global_call_id).map(qualityOf);
    expect(transfer).toHaveLength(3);
    expect(transfer[0]?.orig?.cmr.callIdentifier).toBe(transfer[2]?.orig?.cmr.callIdentifier); // one row, two records
    expect(transfer[0]?.dest?.cmr.callIdentifier).toBe(transfer[1]?.orig?.cmr.callIdentifier);
    expect(expected.some((q) => q.orig && !q.dest)).toBe(true); // a called side without a row
    expect(expected.some((q) => !q.orig && !q.dest)).toBe(true); // no row at all
    expect(expected.some((q) => (q.orig?.packets_lost ?? 0) > 0 && q.orig?.mos !== null)).toBe(true);
    index.release(new Set([file]));
    expect(file.counts).toEqual({ records: interval.cmr.length, joined: interval.cmr.length, unmatched: 0, rejected: 0, skipped: 0 });
  });

  it('counts rows that join no call, repeated legs, other record types and malformed rows', async () => {
    const interval = syntheticInterval(10, 6, 620_000);
    const lines = renderCmrFile(interval.cmr).split('\n');
    const extra = renderCmrFile([{ ...interval.cmr[0], globalCallID_callId: 999_999 }, interval.cmr[1] ?? {}, { ...interval.cmr[2], cdrRecordType: 3 }]).split('\n').slice(2, 5);
    lines.splice(lines.length - 1, 0, ...extra, '2,1,"x"', '2,1,620000,1,"1001",notanumber' + ',""'.repeat(42));
    await writeFile(join(dir, 'cmr_b'), lines.join('\n'));
    await writeFile(join(dir, 'cdr_b'), renderCdrFile(interval.rows));
    const rejections: string[] = [];
    const { index, file } = await indexOf(join(dir, 'cmr_b'), rejections);
    await eventsOf(join(dir, 'cdr_b'), joinSource(index, undefined));
    index.release(new Set([file]));
    // +1 row for a call not in the CDR file, +1 second row for a leg, +1 record type 3, +2 malformed.
    expect(file.counts).toEqual({ records: interval.cmr.length + 5, joined: interval.cmr.length, unmatched: 2, rejected: 2, skipped: 1 });
    expect(rejections).toEqual([
      `cmr_b:${interval.cmr.length + 6}: has 3 fields; the header has 48 (truncated or damaged line)`,
      `cmr_b:${interval.cmr.length + 7}: globalCallID_callManagerId, globalCallID_callId and callIdentifier must be whole numbers`,
    ]);
  });

  it('joins rows of a CMR file without a twin by key, and says null for calls they do not cover', async () => {
    const interval = syntheticInterval(12, 7, 630_000);
    await writeFile(join(dir, 'orphan.txt'), renderCmrFile(interval.cmr.slice(0, 3)));
    await writeFile(join(dir, 'cdr_c'), renderCdrFile(interval.rows));
    const { index } = await indexOf(join(dir, 'orphan.txt'));
    const events = await eventsOf(join(dir, 'cdr_c'), joinSource(undefined, index));
    const joined = events.filter((e) => e.quality !== null);
    expect(joined.length).toBeGreaterThan(0);
    expect(joined.length).toBeLessThan(events.length);
    for (const e of joined) expect(qualityOf(e)?.orig ?? qualityOf(e)?.dest).toBeTruthy();
  });
});

describe('pairing files by interval', () => {
  it("pairs a node's CDR and CMR files of one minute whatever their sequence numbers (CUCM's one counter for both), in the same directory only", () => {
    const plan = planRun([
      '/d/cdr_C_01_202601010000_476630',
      '/d/cdr_C_01_202601010001_476632',
      '/d/cmr_C_01_202601010000_476631',
      '/d/cmr_C_02_202601010001_476633', // another node
      '/d/cmr_C_01_202601010002_476659', // a minute with no CDR file
      '/e/cmr_C_01_202601010001_476634', // another directory
      '/d/notes.txt',
    ]);
    expect(plan).toEqual({
      orphans: ['/d/cmr_C_02_202601010001_476633', '/d/cmr_C_01_202601010002_476659', '/e/cmr_C_01_202601010001_476634'],
      steps: [{ path: '/d/cdr_C_01_202601010000_476630', twin: '/d/cmr_C_01_202601010000_476631' }, { path: '/d/cdr_C_01_202601010001_476632' }, { path: '/d/notes.txt' }],
    });
    expect(intervalOf('/d/cdr_StandAloneCluster_02_202012260557_476630')).toBe(intervalOf('/d/cmr_StandAloneCluster_02_202012260557_476631'));
  });

  it('pairs other cdr_X names with cmr_X exactly, and the n-th CDR file of a minute with its n-th CMR file', () => {
    expect(planRun(['/d/cdr_x', '/d/cmr_x', '/d/cmr_y'])).toEqual({ orphans: ['/d/cmr_y'], steps: [{ path: '/d/cdr_x', twin: '/d/cmr_x' }] });
    expect(intervalOf('/d/other')).toBeUndefined();
    const plan = planRun(['/d/cdr_C_01_202601010000_1', '/d/cdr_C_01_202601010000_3', '/d/cmr_C_01_202601010000_2', '/d/cmr_C_01_202601010000_4', '/d/cmr_C_01_202601010000_5']);
    expect(plan).toEqual({
      orphans: ['/d/cmr_C_01_202601010000_5'],
      steps: [{ path: '/d/cdr_C_01_202601010000_1', twin: '/d/cmr_C_01_202601010000_2' }, { path: '/d/cdr_C_01_202601010000_3', twin: '/d/cmr_C_01_202601010000_4' }],
    });
  });

  it('lists files in time order per node, the CMR file of a minute before its CDR file', () => {
    // Name order (a real listing) puts every cdr_ file before every cmr_ file.
    const listing = ['cdr_SA_02_202012260557_476630', 'cdr_SA_02_202012260558_476631', 'cdr_SA_03_202012260557_11', 'cmr_SA_02_202012260557_476632', 'cmr_SA_02_202012260632_476659', 'notes.txt'];
    expect(sortByInterval(listing.map((n) => `/d/${n}`)).map((p) => p.slice(3))).toEqual([
      'cmr_SA_02_202012260557_476632',
      'cdr_SA_02_202012260557_476630',
      'cdr_SA_02_202012260558_476631',
      'cmr_SA_02_202012260632_476659',
      'cdr_SA_03_202012260557_11',
      'notes.txt',
    ]);
  });
});

describe("the README's poor-quality policy", () => {
  it('posts a call whose legs show concealment or loss, with both legs as JSON, and skips the others', async () => {
    const readme = await readFile(resolve(__dirname, '../../README.md'), 'utf8');
    const yaml = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((block) => block.includes('name: Poor call quality'));
    if (!yaml) throw new Error('no voice-quality example in the README');
    // The default policy: every call the ingester reads reaches it (a policy without `match` is picked by name only).
    const app = parseConfig(yaml, { SLACK_PATH: 'T0/B0/x' }, 'README').byId.get('default')?.apps[0];
    if (!app?.body) throw new Error('no app with a body');
    const { index } = await indexOf(CMR);
    const events = await eventsOf(CUCM14, joinSource(index, undefined));
    const scope = (event: CallEvent | undefined) => ({ event, app_data: {} });
    const call = events.find((e) => e.call_id === 'cdr-2-25447-47874239-47874240');
    // The called phone concealed 0.11 % of the audio (CCR 0.0011): posted.
    expect(skipResult(app, scope(call), undefined)).toBeUndefined();
    if (app.body?.format !== 'json') throw new Error('the README policy posts a JSON body');
    const body = renderBody(app.body.node, scope(call), new Set()) as Record<string, unknown>;
    expect(body.text).toBe('Poor audio on 5033466594 → 5033466593 (2025-04-18T16:32:08.000Z): concealment 0 / 0.0011, lost packets 0 / 0');
    expect(body.orig).toMatchObject({ device_name: 'SEPCC7F750586B7', packets_sent: 559 });
    expect(body.dest).toMatchObject({ device_name: 'SEPCC8E7148AD29', vq: { CCR: 0.0011 } });
    // Clean legs, legs without rows, and calls without quality are skipped.
    const clean = { ...call, quality: { orig: qualityOf(call)?.orig, dest: { ...qualityOf(call)?.dest, vq: { CCR: 0 }, packets_lost: 0 } } };
    expect(skipResult(app, scope(clean as CallEvent), undefined)).toMatchObject({ status: 'skipped' });
    expect(skipResult(app, scope(events[0]), undefined)).toMatchObject({ status: 'skipped' });
    expect(skipResult(app, scope({ ...call, quality: null } as CallEvent), undefined)).toMatchObject({ status: 'skipped' });
    expect(skipResult(app, scope({ ...clean, quality: { ...clean.quality, orig: { ...clean.quality.orig, packets_lost: 3 } } } as CallEvent), undefined)).toBeUndefined();
  });
});
