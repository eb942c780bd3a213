import { open } from 'node:fs/promises';
import { parseCsvLine } from './csv';

/**
 * Fields a call record must have for callhook to use it. Present in every CUCM version since
 * 4.x; anything else is looked up by name when present and ignored when not.
 */
export const REQUIRED_FIELDS = [
  'cdrRecordType',
  'globalCallID_callManagerId',
  'globalCallID_callId',
  'origLegCallIdentifier',
  'destLegIdentifier',
  'dateTimeOrigination',
  'callingPartyNumber',
  'originalCalledPartyNumber',
  'finalCalledPartyNumber',
] as const;

/**
 * Fields a CMR (call management record: one call leg's voice quality) must have to be joined
 * to its call: the global call id and the leg it measured. The measurements themselves are
 * read by name when present.
 */
export const CMR_REQUIRED_FIELDS = ['cdrRecordType', 'globalCallID_callManagerId', 'globalCallID_callId', 'callIdentifier'] as const;

/** Header fields only a CMR file has: a header with `cdrRecordType`, one of these and no calling number is a CMR header. */
const CMR_MARKERS = ['numberPacketsLost', 'jitter', 'latency', 'varVQMetrics'] as const;

/** What kind of CUCM flat file a header describes. */
export type FileKind = 'cdr' | 'cmr';

/** Column positions by field name, from a file's header line. */
export interface CdrLayout {
  readonly names: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Non-empty names in file order, each once (first column wins), with their column. */
  readonly unique: readonly (readonly [string, number])[];
  /**
   * Every unique name with an empty value, in file order: records are copied from it (see
   * rawRecord). Made once per file by Object.fromEntries, which gives V8 a fixed-shape object.
   */
  readonly blank: Readonly<Record<string, string>>;
}

export type LayoutResult =
  | { ok: true; kind: FileKind; layout: CdrLayout; /** byte offset of the first record */ dataOffset: number }
  /** `incomplete`: the file ends before its header and type lines do (an upload in progress): not judged yet. */
  | { ok: false; reason: string; incomplete?: true };

/**
 * A file that ends before its header and type lines are complete: still being uploaded (SFTP
 * creates the file empty, then writes), so it is left where it is and read later, not rejected.
 */
export class IncompleteFileError extends Error {
  override name = 'IncompleteFileError';
}

/** A type token of line 2: INTEGER, VARCHAR(50), UNIQUEIDENTIFIER... */
const TYPE_TOKEN = /^[A-Za-z][A-Za-z0-9_ ]*(\(\d+(,\d+)?\))?$/;

/**
 * Builds the layout from line 1 (field names) and line 2 (types) and tells a CDR file from a
 * CMR file by its header, or says why the file is neither.
 */
export function layoutFrom(
  headerLine: string | undefined,
  typeLine: string | undefined,
): { ok: true; kind: FileKind; layout: CdrLayout } | { ok: false; reason: string } {
  const header = readHeader(headerLine);
  return header.ok ? withTypes(header, typeLine) : header;
}

type Header = { ok: true; kind: FileKind; names: string[]; index: Map<string, number> } | { ok: false; reason: string };

/** Line 1: the field names, the kind of file they make, or why they make neither. */
function readHeader(headerLine: string | undefined): Header {
  if (headerLine === undefined || headerLine.trim() === '') return { ok: false, reason: 'empty file: no header line' };
  const header = parseCsvLine(headerLine.replace(/^\uFEFF/, ''));
  if (!header.ok) return { ok: false, reason: `line 1 is not a CSV header: ${header.reason}` };
  const names = header.fields.map((f) => f.trim());
  const index = new Map<string, number>();
  names.forEach((name, i) => {
    if (name && !index.has(name)) index.set(name, i);
  });
  const kind: FileKind = index.has('cdrRecordType') && !index.has('callingPartyNumber') && CMR_MARKERS.some((f) => index.has(f)) ? 'cmr' : 'cdr';
  const required: readonly string[] = kind === 'cmr' ? CMR_REQUIRED_FIELDS : REQUIRED_FIELDS;
  const missing = required.filter((f) => !index.has(f));
  if (missing.length > 0) {
    return { ok: false, reason: kind === 'cmr' ? `CMR header lacks ${missing.join(', ')}` : `not a CUCM CDR or CMR file: header lacks ${missing.join(', ')}` };
  }
  return { ok: true, kind, names, index };
}

/** Line 2: one type per field of the header. */
function withTypes({ kind, names, index }: Header & { ok: true }, typeLine: string | undefined): { ok: true; kind: FileKind; layout: CdrLayout } | { ok: false; reason: string } {
  const what = kind === 'cmr' ? 'CMR' : 'CDR';
  if (typeLine === undefined) return { ok: false, reason: 'no type line (line 2) after the header' };
  const types = parseCsvLine(typeLine);
  if (!types.ok || types.fields.length !== names.length || !types.fields.every((t) => TYPE_TOKEN.test(t.trim()))) {
    return { ok: false, reason: `line 2 is not the ${what} type line (expected ${names.length} types such as INTEGER, VARCHAR(50))` };
  }
  const unique = [...index.entries()].sort((a, b) => a[1] - b[1]);
  return { ok: true, kind, layout: { names, index, unique, blank: Object.fromEntries(unique.map(([name]) => [name, ''])) } };
}

/**
 * Every field of a record by its name in the file's header (first column of a repeated name
 * wins), as raw text: the `cdr` and `cmr.<fieldName>` maps of an event. Copied from the
 * layout's blank record and then filled, so every record of a file shares one V8 shape: built
 * key by key, a 133-field object fell back to a dictionary, and creating and serialising those
 * took twice as long (the ingester's largest cost once CMR rows were joined).
 */
export function rawRecord(fields: readonly string[], layout: CdrLayout): Record<string, string> {
  const raw: Record<string, string> = { ...layout.blank };
  for (const [name, i] of layout.unique) raw[name] = fields[i] ?? '';
  return raw;
}

/** The header and type lines of CUCM files are a few KiB; a file without them in this much is neither CDR nor CMR. */
const HEAD_BYTES = 256 * 1024;

/** Why a UTF-16 file is refused: an export re-saved by a Windows tool, whose NULs would otherwise call it binary. */
const UTF16 = 'UTF-16 text; CUCM files are UTF-8: convert with iconv -f UTF-16 -t UTF-8';

/**
 * A UTF-16 byte order mark, or text whose first characters are ASCII in UTF-16 (every other
 * byte NUL, little- or big-endian): a CUCM header starts with `"cdrRecordType"`.
 */
function isUtf16(head: Buffer): boolean {
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) return true;
  const pairs = Math.min(head.length >> 1, 16);
  if (pairs < 2) return false;
  const ascii = (b: number | undefined) => b !== undefined && b > 0 && b < 0x80;
  let le = true;
  let be = true;
  for (let i = 0; i < pairs; i++) {
    le &&= ascii(head[2 * i]) && head[2 * i + 1] === 0;
    be &&= head[2 * i] === 0 && ascii(head[2 * i + 1]);
  }
  return le || be;
}

/**
 * An empty file this long unchanged is no upload in progress (a failed transfer, a `touch`): it
 * is judged, not waited for on every run.
 */
export const EMPTY_UPLOAD_MS = 10 * 60_000;

/** Every CUCM CDR and CMR header starts with this field; the first bytes of an upload are a prefix of it. */
const FIRST_FIELDS = ['"cdrRecordType"', 'cdrRecordType'];

/** Whether a header line cut short could still become a CUCM header (else it is not one, complete or not). */
function couldBeHeader(start: string): boolean {
  const text = start.replace(/^\uFEFF/, '');
  return FIRST_FIELDS.some((field) => text.startsWith(field) || field.startsWith(text));
}

/** Reads a file's first two lines, builds its layout and says whether it is a CDR or a CMR file. */
export async function readLayout(path: string): Promise<LayoutResult> {
  const handle = await open(path, 'r');
  let head: Buffer;
  let modifiedAt: number;
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    head = buffer.subarray(0, bytesRead);
    modifiedAt = (await handle.stat()).mtimeMs;
  } finally {
    await handle.close();
  }
  if (head.length === 0) {
    if (Date.now() - modifiedAt > EMPTY_UPLOAD_MS) return { ok: false, reason: `empty file, unchanged for over ${EMPTY_UPLOAD_MS / 60_000} minutes` };
    return { ok: false, incomplete: true, reason: 'empty: nothing written yet (an upload in progress?)' };
  }
  const atEof = head.length < HEAD_BYTES;
  const lf1 = head.indexOf(10);
  const lf2 = lf1 < 0 ? -1 : head.indexOf(10, lf1 + 1);
  if (isUtf16(head)) return { ok: false, reason: UTF16 };
  // NUL bytes in the header or type line: a binary file. Further on they are a damaged record,
  // rejected alone so the rest of the file still goes in.
  const nul = head.indexOf(0);
  if (nul !== -1 && (lf2 < 0 || nul < lf2)) return { ok: false, reason: 'binary file, not a CUCM CDR or CMR file' };
  if (lf1 < 0) {
    if (!atEof) return { ok: false, reason: 'not a CUCM CDR or CMR file: no header line in the first 256 KiB' };
    if (!couldBeHeader(head.toString('utf8', 0, 64))) return { ok: false, reason: 'not a CUCM CDR or CMR file: its first line does not start with "cdrRecordType"' };
    return { ok: false, incomplete: true, reason: 'ends inside its header line, with no line ending yet (an upload in progress?)' };
  }
  if (lf2 < 0 && !atEof) return { ok: false, reason: 'not a CUCM CDR or CMR file: no type line in the first 256 KiB' };
  const text = (from: number, to: number) => head.toString('utf8', from, to).replace(/\r$/, '');
  // A complete header line that is wrong is final; a type line cut short is judged once complete.
  const header = readHeader(text(0, lf1));
  if (!header.ok) return header;
  const typeLine = text(lf1 + 1, lf2 < 0 ? head.length : lf2);
  const result = withTypes(header, typeLine === '' && lf2 < 0 ? undefined : typeLine);
  if (!result.ok && lf2 < 0) return { ok: false, incomplete: true, reason: 'ends inside its type line (line 2), with no line ending yet (an upload in progress?)' };
  return result.ok ? { ...result, dataOffset: lf2 < 0 ? head.length : lf2 + 1 } : result;
}

/** readLayout for a file about to be ingested: one still being written throws IncompleteFileError. */
export async function readWrittenLayout(path: string): Promise<LayoutResult> {
  const head = await readLayout(path);
  if (!head.ok && head.incomplete) throw new IncompleteFileError(head.reason);
  return head;
}
