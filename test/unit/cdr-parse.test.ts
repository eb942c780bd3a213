import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cdrCallId } from '../../src/cdr/call-id';
import { parseCsvLine } from '../../src/cdr/csv';
import { decodeCucmIp } from '../../src/cdr/ip';
import { EMPTY_UPLOAD_MS, layoutFrom, readLayout } from '../../src/cdr/layout';
import { readLines } from '../../src/cdr/line-reader';
import { encodeCucmIp } from '../helpers/cdr-generator';

const SAMPLES = resolve(__dirname, '../../../shared/cdr-samples');

describe('parseCsvLine', () => {
  it('splits quoted strings, bare numbers and empty fields', () => {
    expect(parseCsvLine('1,"abc","",,42,"x"')).toEqual({ ok: true, fields: ['1', 'abc', '', '', '42', 'x'] });
  });
  it('keeps commas and doubled quotes inside quoted fields', () => {
    expect(parseCsvLine('"Lobby, ""main"" phone",2,""""')).toEqual({ ok: true, fields: ['Lobby, "main" phone', '2', '"'] });
  });
  it('reads a trailing empty field', () => {
    expect(parseCsvLine('1,')).toEqual({ ok: true, fields: ['1', ''] });
    expect(parseCsvLine('')).toEqual({ ok: true, fields: [''] });
  });
  it('keeps a stray quote inside a bare field', () => {
    expect(parseCsvLine('ab"c,1')).toEqual({ ok: true, fields: ['ab"c', '1'] });
  });
  it('rejects an unterminated quoted field (a line cut short)', () => {
    expect(parseCsvLine('1,"abc')).toEqual({ ok: false, reason: 'unterminated quoted field 2' });
  });
  it('rejects text after a closing quote', () => {
    expect(parseCsvLine('"abc"x,1')).toMatchObject({ ok: false });
  });
  it('round-trips any fields written in CUCM quoting', () => {
    fc.assert(
      fc.property(fc.array(fc.string().filter((s) => !s.includes('\n')), { minLength: 1, maxLength: 12 }), (values) => {
        const line = values.map((v) => `"${v.replace(/"/g, '""')}"`).join(',');
        expect(parseCsvLine(line)).toEqual({ ok: true, fields: values });
      }),
    );
  });
});

describe('decodeCucmIp', () => {
  it('decodes the little-endian signed integers CUCM writes', () => {
    expect(decodeCucmIp('17502380')).toBe('172.16.11.1');
    expect(decodeCucmIp('239138826')).toBe('10.248.64.14');
    expect(decodeCucmIp('1694566154')).toBe('10.7.1.101');
  });
  it('decodes negative values (last octet 128 or more)', () => {
    expect(decodeCucmIp('-1')).toBe('255.255.255.255');
    expect(decodeCucmIp(String(encodeCucmIp('10.1.2.200')))).toBe('10.1.2.200');
    expect(encodeCucmIp('10.1.2.200')).toBeLessThan(0);
    expect(decodeCucmIp('-2147483648')).toBe('0.0.0.128');
  });
  it('returns null when no address was recorded or the value is not one', () => {
    for (const raw of ['0', '', undefined, 'abc', '1.2', '99999999999']) expect(decodeCucmIp(raw)).toBeNull();
  });
  it('inverts the encoding for every address', () => {
    fc.assert(
      fc.property(fc.ipV4().filter((ip) => ip !== '0.0.0.0'), (ip) => {
        expect(decodeCucmIp(String(encodeCucmIp(ip)))).toBe(ip);
      }),
    );
  });
});

describe('cdrCallId', () => {
  it('joins the global call id and the leg ids', () => {
    expect(cdrCallId(['4', '872185', '75390595', '75390608'])).toBe('cdr-4-872185-75390595-75390608');
  });
  it('is undefined when a part is missing or not a whole number', () => {
    expect(cdrCallId(['4', '', '1', '2'])).toBeUndefined();
    expect(cdrCallId(['4', '1', '-1', '2'])).toBeUndefined();
    expect(cdrCallId(['4', '1', '2', undefined])).toBeUndefined();
  });
});

describe('layoutFrom', () => {
  const header = '"cdrRecordType","globalCallID_callManagerId","globalCallID_callId","origLegCallIdentifier","destLegIdentifier","dateTimeOrigination","callingPartyNumber","originalCalledPartyNumber","finalCalledPartyNumber"';
  const types = 'INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,VARCHAR(50),VARCHAR(50),VARCHAR(50)';
  it('indexes fields by name', () => {
    const result = layoutFrom(header, types);
    expect(result.ok && result.layout.index.get('callingPartyNumber')).toBe(6);
  });
  it('tells a CDR header from a CMR header', () => {
    expect(layoutFrom(header, types)).toMatchObject({ ok: true, kind: 'cdr' });
    expect(layoutFrom('"cdrRecordType","globalCallID_callManagerId","globalCallID_callId","callIdentifier","varVQMetrics"', 'INTEGER,INTEGER,INTEGER,INTEGER,VARCHAR(600)')).toMatchObject({ ok: true, kind: 'cmr' });
  });
  it('names the missing CDR fields', () => {
    expect(layoutFrom('"a","cdrRecordType"', 'INTEGER,INTEGER')).toMatchObject({ ok: false, reason: expect.stringContaining('header lacks globalCallID_callManagerId') });
  });
  it('wants a type line with one type per field', () => {
    expect(layoutFrom(header, undefined)).toMatchObject({ ok: false, reason: expect.stringContaining('no type line') });
    expect(layoutFrom(header, '1,2,3,4,5,6,"a","b","c"')).toMatchObject({ ok: false, reason: expect.stringContaining('line 2 is not the CDR type line') });
    expect(layoutFrom(header, 'INTEGER')).toMatchObject({ ok: false });
  });
  it('refuses an empty file', () => {
    expect(layoutFrom(undefined, undefined)).toMatchObject({ ok: false, reason: 'empty file: no header line' });
  });
});

describe('readLayout', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdr-layout-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const sample = readFileSync(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt'), 'utf8');
  const layoutOf = async (name: string, bytes: Buffer) => {
    await writeFile(join(dir, name), bytes);
    return readLayout(join(dir, name));
  };
  const utf16 = 'UTF-16 text; CUCM files are UTF-8: convert with iconv -f UTF-16 -t UTF-8';

  it('says how to convert a UTF-16 export, with or without a byte order mark, either byte order', async () => {
    const le = Buffer.from(sample, 'utf16le');
    expect(await layoutOf('bom-le', Buffer.concat([Buffer.from([0xff, 0xfe]), le]))).toEqual({ ok: false, reason: utf16 });
    expect(await layoutOf('le', le)).toEqual({ ok: false, reason: utf16 });
    expect(await layoutOf('bom-be', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(le).swap16()]))).toEqual({ ok: false, reason: utf16 });
  });
  it('does not judge a file that ends before its header and type lines do (an upload in progress)', async () => {
    const cmr = readFileSync(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt'));
    const lf1 = sample.indexOf('\n');
    const lf2 = sample.indexOf('\n', lf1 + 1);
    for (const [name, bytes] of [
      ['empty', Buffer.alloc(0)],
      ['header-cut', Buffer.from(sample).subarray(0, 3000)],
      ['header-only', Buffer.from(sample.slice(0, lf1 + 1))],
      ['types-cut', Buffer.from(sample.slice(0, lf1 + 40))],
      ['cmr-cut', cmr.subarray(0, 1000)],
    ] as const) {
      expect([name, await layoutOf(name, bytes)]).toEqual([name, { ok: false, incomplete: true, reason: expect.stringContaining('upload in progress?') }]);
    }
    // A file that cannot become a CUCM header is judged at once, line ending or not; an empty one
    // once it has stayed empty past EMPTY_UPLOAD_MS (a failed transfer, a `touch`).
    expect(await layoutOf('junk', Buffer.from('hello'))).toEqual({ ok: false, reason: expect.stringContaining('does not start with "cdrRecordType"') });
    expect(await layoutOf('bom-cut', Buffer.from('\uFEFF"cdrRec'))).toMatchObject({ ok: false, incomplete: true });
    await writeFile(join(dir, 'stale-empty'), Buffer.alloc(0));
    const past = new Date(Date.now() - EMPTY_UPLOAD_MS - 60_000);
    await utimes(join(dir, 'stale-empty'), past, past);
    expect(await readLayout(join(dir, 'stale-empty'))).toEqual({ ok: false, reason: expect.stringContaining('empty file, unchanged for over 10 minutes') });
    // Complete lines that are wrong are final, and a complete type line needs no line ending.
    expect(await layoutOf('hello', Buffer.from('hello\n'))).toEqual({ ok: false, reason: expect.stringContaining('header lacks') });
    expect(await layoutOf('bad-types', Buffer.from(`${sample.slice(0, lf1 + 1)}1,2,3\n`))).toEqual({ ok: false, reason: expect.stringContaining('line 2 is not the CDR type line') });
    expect(await layoutOf('no-records', Buffer.from(sample.slice(0, lf2)))).toMatchObject({ ok: true, kind: 'cdr', dataOffset: lf2 });
  });
  it('still calls other files with NULs in their header binary, and reads the UTF-8 original', async () => {
    expect(await layoutOf('elf', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 10, 0, 10]))).toEqual({ ok: false, reason: 'binary file, not a CUCM CDR or CMR file' });
    expect(await layoutOf('utf8', Buffer.from(sample))).toMatchObject({ ok: true, kind: 'cdr' });
  });
});

describe('readLines', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdr-lines-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('gives LF and CRLF lines with byte offsets, and a last line without an ending', async () => {
    const path = join(dir, 'a.txt');
    await writeFile(path, 'one\r\ntwo\nthrée');
    const lines = [];
    for await (const line of readLines(path, { chunkBytes: 3 })) lines.push(line);
    expect(lines).toEqual([
      { text: 'one', number: 1, next: 5, terminated: true },
      { text: 'two', number: 2, next: 9, terminated: true },
      { text: 'thrée', number: 3, next: 15, terminated: false },
    ]);
  });
  it('resumes from an offset with the right line numbers', async () => {
    const path = join(dir, 'b.txt');
    await writeFile(path, 'h1\nh2\nr3\nr4\n');
    const lines = [];
    for await (const line of readLines(path, { offset: 6, line: 3 })) lines.push([line.number, line.text, line.next]);
    expect(lines).toEqual([
      [3, 'r3', 9],
      [4, 'r4', 12],
    ]);
  });
  it('reports an over-long line without holding it', async () => {
    const path = join(dir, 'c.txt');
    await writeFile(path, `a\n${'x'.repeat(5000)}\nb\n`);
    const lines = [];
    for await (const line of readLines(path, { chunkBytes: 1024, maxLineBytes: 2048 })) lines.push([line.number, line.text, line.tooLong ?? false, line.next]);
    expect(lines).toEqual([
      [1, 'a', false, 2],
      [2, '', true, 5003],
      [3, 'b', false, 5005],
    ]);
  });
});
