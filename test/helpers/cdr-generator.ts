import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';

/**
 * CUCM 14/15 CDR layout: field name and type, in file order (copied from the real CUCM file
 * in ../shared/cdr-samples/sieteunoseis-cisco-cucm-cdr/cdr.txt). I = INTEGER,
 * U = UNIQUEIDENTIFIER, V<n> = VARCHAR(n). CUCM 10/11 files have the first 129 of these.
 */
const SPEC = `
  cdrRecordType:I globalCallID_callManagerId:I globalCallID_callId:I origLegCallIdentifier:I
  dateTimeOrigination:I origNodeId:I origSpan:I origIpAddr:I callingPartyNumber:V50
  callingPartyUnicodeLoginUserID:V128 origCause_location:I origCause_value:I origPrecedenceLevel:I
  origMediaTransportAddress_IP:I origMediaTransportAddress_Port:I origMediaCap_payloadCapability:I
  origMediaCap_maxFramesPerPacket:I origMediaCap_g723BitRate:I origVideoCap_Codec:I
  origVideoCap_Bandwidth:I origVideoCap_Resolution:I origVideoTransportAddress_IP:I
  origVideoTransportAddress_Port:I origRSVPAudioStat:V64 origRSVPVideoStat:V64 destLegIdentifier:I
  destNodeId:I destSpan:I destIpAddr:I originalCalledPartyNumber:V50 finalCalledPartyNumber:V50
  finalCalledPartyUnicodeLoginUserID:V128 destCause_location:I destCause_value:I destPrecedenceLevel:I
  destMediaTransportAddress_IP:I destMediaTransportAddress_Port:I destMediaCap_payloadCapability:I
  destMediaCap_maxFramesPerPacket:I destMediaCap_g723BitRate:I destVideoCap_Codec:I
  destVideoCap_Bandwidth:I destVideoCap_Resolution:I destVideoTransportAddress_IP:I
  destVideoTransportAddress_Port:I destRSVPAudioStat:V64 destRSVPVideoStat:V64 dateTimeConnect:I
  dateTimeDisconnect:I lastRedirectDn:V50 pkid:U originalCalledPartyNumberPartition:V50
  callingPartyNumberPartition:V50 finalCalledPartyNumberPartition:V50 lastRedirectDnPartition:V50
  duration:I origDeviceName:V129 destDeviceName:V129 origCallTerminationOnBehalfOf:I
  destCallTerminationOnBehalfOf:I origCalledPartyRedirectOnBehalfOf:I lastRedirectRedirectOnBehalfOf:I
  origCalledPartyRedirectReason:I lastRedirectRedirectReason:I destConversationId:I
  globalCallId_ClusterID:V50 joinOnBehalfOf:I comment:V2048 authCodeDescription:V50
  authorizationLevel:I clientMatterCode:V32 origDTMFMethod:I destDTMFMethod:I callSecuredStatus:I
  origConversationId:I origMediaCap_Bandwidth:I destMediaCap_Bandwidth:I authorizationCodeValue:V32
  outpulsedCallingPartyNumber:V50 outpulsedCalledPartyNumber:V50 origIpv4v6Addr:V64 destIpv4v6Addr:V64
  origVideoCap_Codec_Channel2:I origVideoCap_Bandwidth_Channel2:I origVideoCap_Resolution_Channel2:I
  origVideoTransportAddress_IP_Channel2:I origVideoTransportAddress_Port_Channel2:I
  origVideoChannel_Role_Channel2:I destVideoCap_Codec_Channel2:I destVideoCap_Bandwidth_Channel2:I
  destVideoCap_Resolution_Channel2:I destVideoTransportAddress_IP_Channel2:I
  destVideoTransportAddress_Port_Channel2:I destVideoChannel_Role_Channel2:I IncomingProtocolID:I
  IncomingProtocolCallRef:V32 OutgoingProtocolID:I OutgoingProtocolCallRef:V32 currentRoutingReason:I
  origRoutingReason:I lastRedirectingRoutingReason:I huntPilotPartition:V50 huntPilotDN:V50
  calledPartyPatternUsage:I IncomingICID:V50 IncomingOrigIOI:V50 IncomingTermIOI:V50 OutgoingICID:V50
  OutgoingOrigIOI:V50 OutgoingTermIOI:V50 outpulsedOriginalCalledPartyNumber:V50
  outpulsedLastRedirectingNumber:V50 wasCallQueued:I totalWaitTimeInQueue:I
  callingPartyNumber_uri:V255 originalCalledPartyNumber_uri:V255 finalCalledPartyNumber_uri:V255
  lastRedirectDn_uri:V255 mobileCallingPartyNumber:V50 finalMobileCalledPartyNumber:V50
  origMobileDeviceName:V129 destMobileDeviceName:V129 origMobileCallDuration:I
  destMobileCallDuration:I mobileCallType:I originalCalledPartyPattern:V50 finalCalledPartyPattern:V50
  lastRedirectingPartyPattern:V50 huntPilotPattern:V50 origDeviceType:V100 destDeviceType:V100
  origDeviceSessionID:V128 destDeviceSessionID:V128
`;

/** A policies file for CDR tests: the queue is what they check, so the one app is never reached. */
export const CDR_TEST_POLICIES = `
policies:
  - id: default
    apps:
      - name: Log
        url: "http://127.0.0.1:9/log"
        method: POST
`;

export const CDR_FIELDS_V14: readonly { name: string; type: string }[] = SPEC.trim()
  .split(/\s+/)
  .map((item) => {
    const [name = '', code = 'I'] = item.split(':');
    const type = code === 'I' ? 'INTEGER' : code === 'U' ? 'UNIQUEIDENTIFIER' : `VARCHAR(${code.slice(1)})`;
    return { name, type };
  });
export const CDR_FIELDS_V11 = CDR_FIELDS_V14.slice(0, 129);

export type CdrRecord = Record<string, string | number>;

/** The values a generated call is expected to produce in its event. */
export interface ExpectedCall {
  call_id: string;
  calling_number: string;
  called_number: string;
  original_called_number: string;
  calling_devicename: string;
  called_devicename: string;
  timestamp: string;
  connect_time: string | null;
  duration: number;
  answered: boolean;
  orig_ip: string | null;
  dest_ip: string | null;
  global_call_id: string;
}

export interface GeneratedRow {
  record: CdrRecord;
  /** Absent for rows that are not calls (cdrRecordType other than 1). */
  expected?: ExpectedCall;
}

/** An IPv4 address as CUCM writes it: the bytes little-endian, read as a signed 32-bit integer. */
export function encodeCucmIp(ip: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
  return (a | (b << 8) | (c << 16) | (d << 24)) | 0;
}

const BASE_EPOCH = 1_767_225_600; // 2026-01-01T00:00:00Z

/** A deterministic pseudo-random sequence (so generated files are reproducible). */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

function uuidFor(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `5b1c0a4e-7d2f-4c1a-9e3b-${hex.slice(-12)}`;
}

export interface CallSpec {
  cmId?: number;
  callId: number;
  origLeg: number;
  destLeg: number;
  calling: string;
  called: string;
  originalCalled?: string;
  origDevice?: string;
  destDevice?: string;
  start: number;
  /** Seconds from origination to connect; undefined: never answered (dateTimeConnect 0). */
  connectAfter?: number;
  duration?: number;
  origIp?: string;
  destIp?: string;
  comment?: string;
  recordType?: number;
}

/** One CDR row for a call, every other field at CUCM's empty value (0 or ""). */
export function cdrRow(spec: CallSpec, fields = CDR_FIELDS_V14): GeneratedRow {
  const record: CdrRecord = {};
  for (const f of fields) record[f.name] = f.type === 'INTEGER' ? 0 : '';
  const cmId = spec.cmId ?? 1;
  const answered = spec.connectAfter !== undefined;
  const duration = answered ? (spec.duration ?? 0) : 0;
  const connect = answered ? spec.start + (spec.connectAfter ?? 0) : 0;
  const originalCalled = spec.originalCalled ?? spec.called;
  Object.assign(record, {
    cdrRecordType: spec.recordType ?? 1,
    globalCallID_callManagerId: cmId,
    globalCallID_callId: spec.callId,
    origLegCallIdentifier: spec.origLeg,
    destLegIdentifier: spec.destLeg,
    dateTimeOrigination: spec.start,
    origNodeId: cmId,
    destNodeId: cmId,
    origIpAddr: spec.origIp ? encodeCucmIp(spec.origIp) : 0,
    destIpAddr: spec.destIp ? encodeCucmIp(spec.destIp) : 0,
    origMediaTransportAddress_IP: answered && spec.origIp ? encodeCucmIp(spec.origIp) : 0,
    destMediaTransportAddress_IP: answered && spec.destIp ? encodeCucmIp(spec.destIp) : 0,
    callingPartyNumber: spec.calling,
    originalCalledPartyNumber: originalCalled,
    finalCalledPartyNumber: spec.called,
    origCause_value: 16,
    destCause_value: answered ? 0 : 19,
    dateTimeConnect: connect,
    dateTimeDisconnect: (answered ? connect : spec.start) + duration,
    pkid: uuidFor(spec.callId * 8 + (spec.origLeg % 8)),
    duration,
    origDeviceName: spec.origDevice ?? `SEP00AA${String(spec.origLeg % 1e6).padStart(6, '0')}`,
    destDeviceName: spec.destDevice ?? (answered ? `SEP00BB${String(spec.destLeg % 1e6).padStart(6, '0')}` : ''),
    globalCallId_ClusterID: 'GenCluster',
    comment: spec.comment ?? '',
    origIpv4v6Addr: spec.origIp ?? '',
    destIpv4v6Addr: spec.destIp ?? '',
  });
  const expected: ExpectedCall | undefined =
    (spec.recordType ?? 1) === 1
      ? {
          call_id: `cdr-${cmId}-${spec.callId}-${spec.origLeg}-${spec.destLeg}`,
          calling_number: spec.calling,
          called_number: spec.called,
          original_called_number: originalCalled,
          calling_devicename: String(record.origDeviceName),
          called_devicename: String(record.destDeviceName),
          timestamp: new Date(spec.start * 1000).toISOString(),
          connect_time: answered ? new Date(connect * 1000).toISOString() : null,
          duration,
          answered,
          orig_ip: spec.origIp ?? null,
          dest_ip: spec.destIp ?? null,
          global_call_id: `${cmId}-${spec.callId}`,
        }
      : undefined;
  return { record, expected };
}

/**
 * `count` rows of realistic traffic, reproducible from `seed`: on-net extension calls,
 * international numbers with `+`, unanswered calls (dateTimeConnect 0), and every tenth call a
 * transfer written as several rows that share the global call id but not the leg ids.
 */
export function syntheticRows(count: number, seed = 1, firstCallId = 100_000): GeneratedRow[] {
  const rows: GeneratedRow[] = [];
  for (const row of syntheticRowStream(seed, firstCallId)) {
    if (rows.length >= count) break;
    rows.push(row);
  }
  return rows;
}

/** The endless form of syntheticRows, for large files. */
export function* syntheticRowStream(seed = 1, firstCallId = 100_000): Generator<GeneratedRow> {
  const rand = prng(seed);
  let leg = 50_000_000 + Math.floor(rand() * 1_000_000);
  for (let i = 0; ; i += 1) {
    const callId = firstCallId + i;
    const cmId = 1 + (i % 3);
    const start = BASE_EPOCH + i * 7;
    const ext = (n: number) => String(1000 + (n % 9000));
    const intl = i % 5 === 0;
    const calling = intl ? `+4930${String(Math.floor(rand() * 1e8)).padStart(8, '0')}` : ext(Math.floor(rand() * 9000));
    const called = i % 4 === 0 ? `+1${String(2_000_000_000 + Math.floor(rand() * 7e9))}` : ext(Math.floor(rand() * 9000));
    const origIp = `10.${i % 250}.${(i >> 8) % 250}.${1 + (i % 200)}`;
    const destIp = `172.16.${i % 250}.${200 + (i % 55)}`;
    const answered = i % 7 !== 3;
    const base: CallSpec = {
      cmId, callId, origLeg: leg++, destLeg: leg++, calling, called, start, origIp, destIp,
      connectAfter: answered ? 2 + (i % 9) : undefined, duration: answered ? 5 + Math.floor(rand() * 600) : 0,
      comment: i % 11 === 0 ? 'Lobby, "main" phone' : '',
    };
    if (i % 10 === 9) {
      // Transfer: A calls B, B consults C, the call is transferred: three legs, one global call id.
      const transferTo = ext(Math.floor(rand() * 9000));
      yield cdrRow({ ...base, connectAfter: 2, duration: 30 });
      yield cdrRow({ ...base, origLeg: base.destLeg, destLeg: leg++, calling: called, called: transferTo, start: start + 20, connectAfter: 3, duration: 10 });
      yield cdrRow({ ...base, origLeg: base.origLeg, destLeg: leg++, called: transferTo, originalCalled: called, start: start + 33, connectAfter: 0, duration: 45 });
    } else {
      yield cdrRow(base);
    }
  }
}

export interface FileOptions {
  /** Field order and set. @defaultValue CDR_FIELDS_V14 */
  fields?: readonly { name: string; type: string }[];
  /**
   * cucm: strings quoted, integers bare (as CUCM writes); odd: integers sometimes quoted,
   * empty strings bare, strings with commas and doubled quotes. @defaultValue cucm
   */
  quoting?: 'cucm' | 'odd';
  /** @defaultValue '\n' */
  eol?: '\n' | '\r\n';
  /** @defaultValue true */
  trailingNewline?: boolean;
}

function quote(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** One data line in CUCM's CSV dialect. */
export function renderRow(record: CdrRecord, fields: readonly { name: string; type: string }[], quoting: 'cucm' | 'odd' = 'cucm', n = 0): string {
  return fields
    .map((f, i) => {
      const value = String(record[f.name] ?? (f.type === 'INTEGER' ? 0 : ''));
      if (f.type === 'INTEGER') return quoting === 'odd' && (i + n) % 5 === 0 ? quote(value) : value;
      if (quoting === 'odd' && value === '' && (i + n) % 2 === 0) return '';
      return quote(value);
    })
    .join(',');
}

export function renderHeader(fields: readonly { name: string; type: string }[], eol = '\n'): string {
  return fields.map((f) => quote(f.name)).join(',') + eol + fields.map((f) => f.type).join(',');
}

/** A whole CDR file as text: header line, type line, one line per record. */
export function renderCdrFile(rows: readonly GeneratedRow[], options: FileOptions = {}): string {
  const fields = options.fields ?? CDR_FIELDS_V14;
  const eol = options.eol ?? '\n';
  const lines = [renderHeader(fields, eol), ...rows.map((r, n) => renderRow(r.record, fields, options.quoting, n))];
  return lines.join(eol) + (options.trailingNewline === false ? '' : eol);
}

export async function writeCdrFile(path: string, rows: readonly GeneratedRow[], options: FileOptions = {}): Promise<void> {
  await writeFile(path, renderCdrFile(rows, options));
}

/** The CDR_FIELDS_V14 set reordered (reversed) with two extra columns a future CUCM might add. */
export function reorderedFields(): { name: string; type: string }[] {
  return [{ name: 'futureFieldA', type: 'VARCHAR(20)' }, ...[...CDR_FIELDS_V14].reverse(), { name: 'futureFieldB', type: 'INTEGER' }];
}

/** A small CMR file (call quality records), which is not a call file. */
export async function writeCmrFile(path: string): Promise<void> {
  const names = ['cdrRecordType', 'globalCallID_callManagerId', 'globalCallID_callId', 'nodeId', 'directoryNum', 'callIdentifier', 'dateTimeStamp', 'numberPacketsLost', 'jitter', 'latency', 'pkid', 'deviceName', 'varVQMetrics', 'duration'];
  const types = ['INTEGER', 'INTEGER', 'INTEGER', 'INTEGER', 'VARCHAR(50)', 'INTEGER', 'INTEGER', 'INTEGER', 'INTEGER', 'INTEGER', 'UNIQUEIDENTIFIER', 'VARCHAR(129)', 'VARCHAR(600)', 'INTEGER'];
  const row = `2,1,100000,1,"1001",50000001,${BASE_EPOCH},0,2,1,"${uuidFor(1)}","SEP00AA000001","CCR=0.0000;ICR=0.0000",11`;
  await writeFile(path, `${names.map(quote).join(',')}\n${types.join(',')}\n${row}\n`);
}

/**
 * Streams a large CDR file of synthetic traffic until it reaches `targetBytes` (with
 * backpressure, so generating 1 GB takes little memory). Returns the row and byte counts.
 */
export async function writeLargeCdrFile(path: string, targetBytes: number, seed = 7): Promise<{ rows: number; calls: number; bytes: number }> {
  const out = createWriteStream(path);
  const header = `${renderHeader(CDR_FIELDS_V14)}\n`;
  out.write(header);
  let bytes = Buffer.byteLength(header);
  let rows = 0;
  let calls = 0;
  let chunk: string[] = [];
  for (const row of syntheticRowStream(seed)) {
    if (bytes >= targetBytes) break;
    const line = `${renderRow(row.record, CDR_FIELDS_V14)}\n`;
    bytes += line.length;
    rows += 1;
    if (row.expected) calls += 1;
    chunk.push(line);
    if (chunk.length === 500) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk = [];
    }
  }
  out.end(chunk.join(''));
  await once(out, 'finish');
  return { rows, calls, bytes };
}
