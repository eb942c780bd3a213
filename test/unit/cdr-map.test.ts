import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseCsvLine } from '../../src/cdr/csv';
import { readLayout } from '../../src/cdr/layout';
import { readLines } from '../../src/cdr/line-reader';
import { mapRecord, type MapResult } from '../../src/cdr/map';
import { CALL_ID_PATTERN, eventJson, eventSchema, MAX_EVENT_BYTES, parseEvent } from '../../src/events/schema';
import { STANDARD_EVENT_FIELDS } from '../../src/model/call';
import { parseConfig } from '../../src/policies/load';
import { resolvePolicy } from '../../src/policies/resolve';
import { CDR_FIELDS_V11, cdrRow, reorderedFields, syntheticRows, writeCdrFile, type FileOptions } from '../helpers/cdr-generator';

const SAMPLES = resolve(__dirname, '../../../shared/cdr-samples');
const CUCM11 = join(SAMPLES, 'reminisc3-CSVUtil/cdr_StandAloneCluster_04_201601141231_120716.csv');
const CUCM14 = join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt');
const CMR = join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt');

/** Every data line of a file through the real parse path. */
async function mapFile(path: string, policy?: string): Promise<{ line: number; result: MapResult }[]> {
  const head = await readLayout(path);
  if (!head.ok) throw new Error(head.reason);
  const out: { line: number; result: MapResult }[] = [];
  for await (const line of readLines(path, { offset: head.dataOffset, line: 3 })) {
    if (line.text === '') continue;
    const csv = parseCsvLine(line.text);
    out.push({ line: line.number, result: csv.ok ? mapRecord(csv.fields, head.layout, { file: basename(path), line: line.number, policy }) : { kind: 'reject', reason: csv.reason } });
  }
  return out;
}

function events(mapped: { result: MapResult }[]) {
  return mapped.map(({ result }) => {
    if (result.kind !== 'event') throw new Error(`not an event: ${JSON.stringify(result)}`);
    return result.event;
  });
}

describe('real CUCM 10/11 file (129 fields)', () => {
  it('maps both records field by field', async () => {
    const [a, b] = events(await mapFile(CUCM11));
    expect(a).toMatchObject({
      call_id: 'cdr-4-872185-75390595-75390608',
      calling_number: '3365585309',
      called_number: '912677679721',
      original_called_number: '3091',
      calling_devicename: '172.16.11.1',
      called_devicename: '172.16.11.1',
      timestamp: '2016-01-14T12:29:50.000Z',
      connect_time: '2016-01-14T12:30:42.000Z',
      disconnect_time: '2016-01-14T12:30:57.000Z',
      duration: 15,
      answered: true,
      orig_cause: 16,
      dest_cause: 393216,
      orig_ip: '172.16.11.1',
      dest_ip: '172.16.11.1',
      orig_media_ip: '172.16.11.1',
      dest_media_ip: '172.16.11.1',
      global_call_id: '4-872185',
      cluster_id: 'StandAloneCluster',
      cdr_file: 'cdr_StandAloneCluster_04_201601141231_120716.csv',
      cdr_line: 3,
    });
    expect(Object.keys(a?.cdr as object)).toHaveLength(129);
    expect(a?.cdr).toMatchObject({ origIpAddr: '17502380', lastRedirectDn: '3091', pkid: 'a7db1ffb-3463-4853-abcd-f8d4702ad820', finalCalledPartyPattern: '9.@', huntPilotPattern: '' });
    // No caller id from the trunk: still a call, calling_number "anonymous", the raw field empty.
    expect(b).toMatchObject({
      call_id: 'cdr-4-872186-75390609-75390612',
      calling_number: 'anonymous',
      called_number: '7990',
      original_called_number: '1300',
      called_devicename: 'CALUNITY02',
      orig_ip: '10.205.28.1',
      dest_ip: '10.7.1.101',
      duration: 10,
      cdr_line: 4,
    });
    expect(b?.cdr).toMatchObject({ callingPartyNumber: '', destIpAddr: '1694566154' });
  });
});

describe('real CUCM 14/15 file (133 fields)', () => {
  it('maps the answered call and the two recording legs', async () => {
    const mapped = events(await mapFile(CUCM14, 'sales'));
    expect(mapped.map((e) => e.call_id)).toEqual(['cdr-2-25449-47874246-47874248', 'cdr-2-25448-47874243-47874250', 'cdr-2-25447-47874239-47874240']);
    expect(mapped[2]).toMatchObject({
      calling_number: '5033466594',
      called_number: '5033466593',
      calling_devicename: 'SEPCC7F750586B7',
      called_devicename: 'SEPCC8E7148AD29',
      timestamp: '2025-04-18T16:32:08.000Z',
      connect_time: '2025-04-18T16:32:10.000Z',
      disconnect_time: '2025-04-18T16:32:21.000Z',
      duration: 11,
      answered: true,
      orig_ip: '10.248.64.14',
      dest_ip: '10.248.64.17',
      cluster_id: 'cucmOHSUtest',
      policy: 'sales',
    });
    expect(mapped[2]?.cdr).toMatchObject({ callingPartyUnicodeLoginUserID: 'rubbleb', origDeviceSessionID: '0e7ca15300105000a000cc7f750586b7', origDeviceType: '' });
    expect(Object.keys(mapped[2]?.cdr as object)).toHaveLength(133);
    // Zero-duration recording leg: never connected, no destination address.
    expect(mapped[0]).toMatchObject({ calling_number: 'b002179144511001', called_number: '5030079981', answered: false, connect_time: null, duration: 0, orig_ip: '10.248.64.14', dest_ip: null });
  });

  it('marks the built-in-bridge recording legs as recording, each with the leg of call 2-25447 it records', async () => {
    const mapped = events(await mapFile(CUCM14));
    expect(mapped.map((e) => [e.call_id, e.leg_type, e.conversation_id])).toEqual([
      ['cdr-2-25449-47874246-47874248', 'recording', 47874239],
      ['cdr-2-25448-47874243-47874250', 'recording', 47874240],
      ['cdr-2-25447-47874239-47874240', 'call', null],
    ]);
    // A call redirected for another reason (a forward: OnBehalfOf 5, reason 15) is a call.
    expect(events(await mapFile(CUCM11)).map((e) => [e.leg_type, e.conversation_id])).toEqual([['call', null], ['call', null]]);
  });

  it("routes the recording legs to the README's policy with no apps, and the call to the next one", async () => {
    const readme = await readFile(resolve(__dirname, '../../README.md'), 'utf8');
    const yaml = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((block) => block.includes('id: recording-legs'));
    if (!yaml) throw new Error('no recording-legs example in the README');
    const config = parseConfig(yaml, {}, 'README');
    const routed = events(await mapFile(CUCM14)).map((e) => [e.call_id, resolvePolicy(config, e)?.id]);
    expect(routed).toEqual([
      ['cdr-2-25449-47874246-47874248', 'recording-legs'],
      ['cdr-2-25448-47874243-47874250', 'recording-legs'],
      ['cdr-2-25447-47874239-47874240', 'default'],
    ]);
    expect(config.byId.get('recording-legs')?.apps).toEqual([]);
  });

  it('lets a policy match a raw CDR field by its dotted path', async () => {
    const config = parseConfig('policies: [{ id: recorder, match: { cdr.finalCalledPartyNumberPartition: "^InformLabRecording$" }, apps: [] }]');
    expect(events(await mapFile(CUCM14)).map((e) => resolvePolicy(config, e)?.id)).toEqual(['recorder', 'recorder', undefined]);
  });

  it('gives every record in the real files a distinct valid call id', async () => {
    const ids = [...events(await mapFile(CUCM11)), ...events(await mapFile(CUCM14))].map((e) => e.call_id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(CALL_ID_PATTERN);
  });

  // The mapper skips the schema pass (its events are valid by construction): this checks that claim.
  it('produces events that pass the API validation unchanged', async () => {
    for (const event of [...events(await mapFile(CUCM11)), ...events(await mapFile(CUCM14))]) {
      expect(parseEvent(event)).toEqual({ ok: true, event });
      expect(eventJson(event)).toBe(JSON.stringify(event));
    }
  });

  // Load-time warnings compare `match` fields and `event.x` in templates with this list.
  it('carries only fields STANDARD_EVENT_FIELDS lists, as the API schema names only such fields', async () => {
    const fields = new Set([...events(await mapFile(CUCM14)), ...events(await mapFile(CUCM11))].flatMap((event) => Object.keys(event)));
    expect([...fields].filter((field) => !STANDARD_EVENT_FIELDS.includes(field))).toEqual([]);
    expect(Object.keys(eventSchema.shape).filter((field) => !STANDARD_EVENT_FIELDS.includes(field))).toEqual([]);
  });
});

describe('real CMR file', () => {
  it('is a CMR file, not a call file (its rows are joined to calls: cdr-quality.test.ts)', async () => {
    expect(await readLayout(CMR)).toMatchObject({ ok: true, kind: 'cmr' });
  });
});

describe('generated files in other layouts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdr-map-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const rows = syntheticRows(60, 3);
  const variants: [string, FileOptions][] = [
    ['CUCM 14 layout', {}],
    ['CUCM 11 layout (129 fields)', { fields: CDR_FIELDS_V11 }],
    ['reordered columns with unknown extras', { fields: reorderedFields() }],
    ['odd quoting and CRLF, no trailing newline', { quoting: 'odd', eol: '\r\n', trailingNewline: false }],
  ];
  it.each(variants)('%s map to the expected events', async (name, options) => {
    const path = join(dir, `${name.replace(/\W+/g, '_')}.csv`);
    await writeCdrFile(path, rows, options);
    const mapped = events(await mapFile(path));
    expect(mapped).toHaveLength(rows.length);
    mapped.forEach((event, i) => expect(event).toMatchObject(rows[i]?.expected ?? {}));
    for (const event of mapped) expect(parseEvent(event)).toEqual({ ok: true, event });
    expect(mapped[0]?.cdr).toMatchObject({ comment: 'Lobby, "main" phone' });
  });

  it('covers transfers, unanswered and international calls', () => {
    const expected = rows.map((r) => r.expected);
    const transfer = expected.filter((e) => e?.global_call_id === expected[9]?.global_call_id);
    expect(transfer).toHaveLength(3);
    expect(new Set(transfer.map((e) => e?.call_id)).size).toBe(3);
    expect(expected.some((e) => e?.answered === false && e.connect_time === null)).toBe(true);
    expect(expected.some((e) => e?.calling_number.startsWith('+'))).toBe(true);
    expect(new Set(expected.map((e) => e?.call_id)).size).toBe(rows.length);
  });
});

describe('records that do not become events', () => {
  const layoutFor = async (dir: string) => {
    const path = join(dir, 'one.csv');
    await writeCdrFile(path, []);
    const head = await readLayout(path);
    if (!head.ok) throw new Error(head.reason);
    return head.layout;
  };
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdr-map-rej-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const fieldsOf = (overrides: Record<string, string | number>) => {
    const { record } = cdrRow({ callId: 1, origLeg: 10, destLeg: 11, calling: '1001', called: '1002', start: 1_767_225_600, connectAfter: 1, duration: 5 });
    Object.assign(record, overrides);
    return Object.values(record).map(String);
  };
  const ctx = { file: 'f.csv', line: 3 };

  it('skips records that are not calls (cdrRecordType other than 1)', async () => {
    expect(mapRecord(fieldsOf({ cdrRecordType: 2 }), await layoutFor(dir), ctx)).toEqual({ kind: 'skip', cause: 'not-a-call', reason: 'cdrRecordType 2 is not a call record' });
  });
  it('skips an abandoned call (off hook, nothing dialled, never connected) as abandoned, not malformed', async () => {
    const offHook = fieldsOf({ finalCalledPartyNumber: '', originalCalledPartyNumber: '', dateTimeConnect: 0, duration: 0, destDeviceName: '' });
    expect(mapRecord(offHook, await layoutFor(dir), ctx)).toMatchObject({ kind: 'skip', cause: 'abandoned' });
  });
  it('rejects a record with no called number that connected or lasted', async () => {
    expect(mapRecord(fieldsOf({ finalCalledPartyNumber: '', originalCalledPartyNumber: '' }), await layoutFor(dir), ctx)).toMatchObject({ kind: 'reject', reason: expect.stringContaining('no called number') });
    expect(mapRecord(fieldsOf({ finalCalledPartyNumber: '', originalCalledPartyNumber: '', dateTimeConnect: 0 }), await layoutFor(dir), ctx)).toMatchObject({ kind: 'reject' });
  });
  it('marks a silent-monitoring leg as monitoring, by its on-behalf-of code or its redirect reason', async () => {
    const layout = await layoutFor(dir);
    expect(mapRecord(fieldsOf({ origCalledPartyRedirectOnBehalfOf: 28, origConversationId: 10 }), layout, ctx)).toMatchObject({ kind: 'event', event: { leg_type: 'monitoring', conversation_id: 10 } });
    expect(mapRecord(fieldsOf({ lastRedirectRedirectReason: 370 }), layout, ctx)).toMatchObject({ kind: 'event', event: { leg_type: 'monitoring', conversation_id: null } });
    expect(mapRecord(fieldsOf({ origCalledPartyRedirectReason: 354 }), layout, ctx)).toMatchObject({ kind: 'event', event: { leg_type: 'recording' } });
  });
  it('falls back to the original called number', async () => {
    expect(mapRecord(fieldsOf({ finalCalledPartyNumber: '' }), await layoutFor(dir), ctx)).toMatchObject({ kind: 'event', event: { called_number: '1002' } });
  });
  it('rejects bad ids, bad times and wrong field counts', async () => {
    const layout = await layoutFor(dir);
    expect(mapRecord(fieldsOf({ globalCallID_callId: 'x' }), layout, ctx)).toMatchObject({ kind: 'reject' });
    expect(mapRecord(fieldsOf({ dateTimeOrigination: 0 }), layout, ctx)).toMatchObject({ kind: 'reject', reason: expect.stringContaining('dateTimeOrigination') });
    expect(mapRecord(fieldsOf({}).slice(0, 40), layout, ctx)).toMatchObject({ kind: 'reject', reason: 'has 40 fields; the header has 133 (truncated or damaged line)' });
    expect(mapRecord(fieldsOf({ cdrRecordType: '' }), layout, ctx)).toMatchObject({ kind: 'reject' });
    // A damaged file's field can be megabytes: its log line quotes only the start of it.
    expect(mapRecord(fieldsOf({ dateTimeOrigination: 'x'.repeat(500_000) }), layout, ctx)).toEqual({ kind: 'reject', reason: `dateTimeOrigination "${'x'.repeat(64)}"… (500000 characters) is not an epoch time` });
    expect(mapRecord(fieldsOf({ cdrRecordType: 'y'.repeat(100) }), layout, ctx)).toEqual({ kind: 'reject', reason: `cdrRecordType "${'y'.repeat(64)}"… (100 characters) is not a number` });
  });
  it('rejects a record whose numbers or device name are longer than the API takes', async () => {
    const layout = await layoutFor(dir);
    const long = 'x'.repeat(257);
    expect(mapRecord(fieldsOf({ callingPartyNumber: long }), layout, ctx)).toEqual({ kind: 'reject', reason: 'calling_number: is longer than 256 characters' });
    expect(mapRecord(fieldsOf({ finalCalledPartyNumber: long, origDeviceName: long }), layout, ctx)).toEqual({ kind: 'reject', reason: 'called_number: is longer than 256 characters; calling_devicename: is longer than 256 characters' });
    expect(mapRecord(fieldsOf({ callingPartyNumber: 'x'.repeat(256) }), layout, ctx)).toMatchObject({ kind: 'event' });
  });

  it('rejects a record whose event would pass the event size limit', async () => {
    const huge = fieldsOf({ comment: 'é'.repeat(MAX_EVENT_BYTES / 2) }); // 2 bytes each in UTF-8
    expect(mapRecord(huge, await layoutFor(dir), ctx)).toMatchObject({ kind: 'reject', reason: expect.stringContaining(`the limit is ${MAX_EVENT_BYTES}`) });
  });
});
