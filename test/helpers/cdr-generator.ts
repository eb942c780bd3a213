import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

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

/**
 * CUCM 14/15 CMR layout (copied from the real CUCM file in
 * ../shared/cdr-samples/sieteunoseis-cisco-cucm-cdr/cmr.txt): 48 fields, codes as in SPEC.
 */
const CMR_SPEC = `
  cdrRecordType:I globalCallID_callManagerId:I globalCallID_callId:I nodeId:I directoryNum:V50
  callIdentifier:I dateTimeStamp:I numberPacketsSent:I numberOctetsSent:I numberPacketsReceived:I
  numberOctetsReceived:I numberPacketsLost:I jitter:I latency:I pkid:U directoryNumPartition:V50
  globalCallId_ClusterID:V50 deviceName:V129 varVQMetrics:V600 duration:I videoContentType:V10
  videoDuration:I numberVideoPacketsSent:I numberVideoOctetsSent:I numberVideoPacketsReceived:I
  numberVideoOctetsReceived:I numberVideoPacketsLost:I videoAverageJitter:I videoRoundTripTime:I
  videoOneWayDelay:I videoReceptionMetrics:V600 videoTransmissionMetrics:V600
  videoContentType_channel2:V10 videoDuration_channel2:I numberVideoPacketsSent_channel2:I
  numberVideoOctetsSent_channel2:I numberVideoPacketsReceived_channel2:I
  numberVideoOctetsReceived_channel2:I numberVideoPacketsLost_channel2:I videoAverageJitter_channel2:I
  videoRoundTripTime_channel2:I videoOneWayDelay_channel2:I videoReceptionMetrics_channel2:V600
  videoTransmissionMetrics_channel2:V600 localSessionID:V128 remoteSessionID:V128 headsetSN:V129
  headsetMetrics:V1024
`;

function fieldsFrom(spec: string): { name: string; type: string }[] {
  return spec
    .trim()
    .split(/\s+/)
    .map((item) => {
      const [name = '', code = 'I'] = item.split(':');
      const type = code === 'I' ? 'INTEGER' : code === 'U' ? 'UNIQUEIDENTIFIER' : `VARCHAR(${code.slice(1)})`;
      return { name, type };
    });
}

export const CDR_FIELDS_V14: readonly { name: string; type: string }[] = fieldsFrom(SPEC);
export const CMR_FIELDS: readonly { name: string; type: string }[] = fieldsFrom(CMR_SPEC);
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

/** A small CMR file (call quality records) with a minimal header: one row, for leg 50000001 of call 1-100000. */
export async function writeCmrFile(path: string): Promise<void> {
  const names = ['cdrRecordType', 'globalCallID_callManagerId', 'globalCallID_callId', 'nodeId', 'directoryNum', 'callIdentifier', 'dateTimeStamp', 'numberPacketsLost', 'jitter', 'latency', 'pkid', 'deviceName', 'varVQMetrics', 'duration'];
  const types = ['INTEGER', 'INTEGER', 'INTEGER', 'INTEGER', 'VARCHAR(50)', 'INTEGER', 'INTEGER', 'INTEGER', 'INTEGER', 'INTEGER', 'UNIQUEIDENTIFIER', 'VARCHAR(129)', 'VARCHAR(600)', 'INTEGER'];
  const row = `2,1,100000,1,"1001",50000001,${BASE_EPOCH},0,2,1,"${uuidFor(1)}","SEP00AA000001","CCR=0.0000;ICR=0.0000",11`;
  await writeFile(path, `${names.map(quote).join(',')}\n${types.join(',')}\n${row}\n`);
}

/** What a generated leg's quality is expected to be in `event.quality.orig` / `.dest`. */
export interface ExpectedLeg {
  device_name: string;
  directory_number: string;
  packets_sent: number;
  packets_received: number;
  packets_lost: number;
  octets_sent: number;
  octets_received: number;
  jitter_ms: number;
  latency_ms: number;
  mos: number | null;
  mos_min: number | null;
  vq: Record<string, number | string>;
}

export interface ExpectedQuality {
  orig: ExpectedLeg | null;
  dest: ExpectedLeg | null;
}

const fixed4 = (n: number) => n.toFixed(4);

/**
 * CMR rows for generated call records, one per leg as CUCM writes them: a leg that several
 * records share (a transfer's) has one row, which joins each of them. The calling side always
 * has a row and the called side once answered, except that every 6th call's called side is a
 * trunk (no row) and every 17th call has no row at all: missing CMR rows. Values are derived
 * from the leg id, so they are reproducible: packet loss on every 5th leg, MOS scores on every
 * 3rd (the last 8 s, MLQK, a little worse than the average, MLQKav).
 */
export class CmrRows {
  private readonly legs = new Map<string, ExpectedLeg | null>();
  private lastCall: number | undefined;

  /** `streaming`: remember the legs of the latest call only (for files of millions of rows; rows come call by call). */
  constructor(private readonly streaming = false) {}

  /** The CMR rows for the legs of `row` that have not had one yet. */
  rowsFor(row: GeneratedRow): CdrRecord[] {
    const r = row.record;
    if (Number(r.cdrRecordType) !== 1) return [];
    const callId = Number(r.globalCallID_callId);
    if (this.streaming && callId !== this.lastCall) this.legs.clear();
    this.lastCall = callId;
    const answered = Number(r.dateTimeConnect) !== 0;
    const out: CdrRecord[] = [];
    const sides: ['orig' | 'dest', string, string, string][] = [
      ['orig', String(r.origLegCallIdentifier), String(r.origDeviceName), String(r.callingPartyNumber)],
      ['dest', String(r.destLegIdentifier), String(r.destDeviceName), String(r.finalCalledPartyNumber)],
    ];
    for (const [side, leg, device, dn] of sides) {
      const key = `${r.globalCallID_callManagerId}-${callId}-${leg}`;
      if (this.legs.has(key)) continue;
      const has = callId % 17 !== 0 && (side === 'orig' || (answered && callId % 6 !== 5));
      if (!has) {
        this.legs.set(key, null);
        continue;
      }
      const { record, expected } = cmrRow({ cmId: Number(r.globalCallID_callManagerId), callId, leg: Number(leg), device, dn, at: Number(r.dateTimeDisconnect), duration: Number(r.duration) });
      this.legs.set(key, expected);
      out.push(record);
    }
    return out;
  }

  /** The quality `row`'s event carries once its interval's CMR file is read (call rowsFor first). */
  expected(row: GeneratedRow): ExpectedQuality {
    const r = row.record;
    const leg = (id: string | number) => this.legs.get(`${r.globalCallID_callManagerId}-${r.globalCallID_callId}-${id}`) ?? null;
    return { orig: leg(r.origLegCallIdentifier ?? ''), dest: leg(r.destLegIdentifier ?? '') };
  }
}

/** One CMR row in the CUCM 14/15 layout, and what its leg's quality should map to. */
export function cmrRow(spec: { cmId: number; callId: number; leg: number; device: string; dn: string; at: number; duration: number }): { record: CdrRecord; expected: ExpectedLeg } {
  const record: CdrRecord = {};
  for (const f of CMR_FIELDS) record[f.name] = '';
  const n = spec.leg;
  const packets = spec.duration * 50;
  const lost = n % 5 === 0 ? 1 + (n % 40) : 0;
  const received = Math.max(0, packets - lost);
  const jitter = n % 23;
  const latency = n % 11;
  const ccr = packets > 0 ? lost / packets : 0;
  const average = 4.4 - Math.min(3, lost / 10);
  // MLQK is the last 8 s only, MLQKav the whole stream's average, MLQKmn its worst 8 s.
  const mos = n % 3 === 0 ? { MLQK: Number(fixed4(average - 0.1)), MLQKav: Number(fixed4(average)), MLQKmn: Number(fixed4(average - 0.2)) } : null;
  const mlqk = mos === null ? '' : `MLQK=${fixed4(mos.MLQK)};MLQKav=${fixed4(mos.MLQKav)};MLQKmn=${fixed4(mos.MLQKmn)};MLQKmx=${fixed4(average)};MLQKvr=0.95;`;
  const vqText = `CCR=${fixed4(ccr)};ICR=0.0000;ICRmx=${fixed4(ccr * 2)};CS=${lost > 0 ? 1 : 0};SCS=0;${mlqk}Ver=0.90;VoRxCodec=G.711 u-la;CID=4;VoPktSizeMs=20;VoPktLost=${lost};VoPktDis=0;VoOneWayDelayMs=${latency};maxJitter=${jitter}`;
  Object.assign(record, {
    cdrRecordType: 2,
    globalCallID_callManagerId: spec.cmId,
    globalCallID_callId: spec.callId,
    nodeId: spec.cmId,
    directoryNum: spec.dn,
    callIdentifier: spec.leg,
    dateTimeStamp: spec.at,
    numberPacketsSent: packets,
    numberOctetsSent: packets * 160,
    numberPacketsReceived: received,
    numberOctetsReceived: received * 160,
    numberPacketsLost: lost,
    jitter,
    latency,
    pkid: uuidFor(spec.leg),
    directoryNumPartition: 'OnNet',
    globalCallId_ClusterID: 'GenCluster',
    deviceName: spec.device,
    varVQMetrics: vqText,
    duration: spec.duration,
    localSessionID: spec.leg.toString(16).padStart(32, '0'),
    remoteSessionID: (spec.leg + 1).toString(16).padStart(32, '0'),
  });
  const expected: ExpectedLeg = {
    device_name: spec.device,
    directory_number: spec.dn,
    packets_sent: packets,
    packets_received: received,
    packets_lost: lost,
    octets_sent: packets * 160,
    octets_received: received * 160,
    jitter_ms: jitter,
    latency_ms: latency,
    mos: mos?.MLQKav ?? null,
    mos_min: mos?.MLQKmn ?? null,
    vq: { CCR: Number(fixed4(ccr)), ICR: 0, CS: lost > 0 ? 1 : 0, VoRxCodec: 'G.711 u-la', VoPktLost: lost, maxJitter: jitter, ...mos },
  };
  return { record, expected };
}

/** A whole CMR file as text: header line, type line, one line per row (CUCM writes no newline after the last). */
export function renderCmrFile(records: readonly CdrRecord[], options: Pick<FileOptions, 'eol' | 'trailingNewline'> = {}): string {
  const eol = options.eol ?? '\n';
  const lines = [renderHeader(CMR_FIELDS, eol), ...records.map((r) => renderRow(r, CMR_FIELDS))];
  return lines.join(eol) + (options.trailingNewline === false ? '' : eol);
}

/**
 * One interval as CUCM writes it: `count` call records and the CMR rows of their legs, with
 * what each record's quality should be once joined.
 */
export function syntheticInterval(count: number, seed = 1, firstCallId = 100_000): { rows: GeneratedRow[]; cmr: CdrRecord[]; quality: (row: GeneratedRow) => ExpectedQuality } {
  const rows = syntheticRows(count, seed, firstCallId);
  const tracker = new CmrRows();
  const cmr = rows.flatMap((row) => tracker.rowsFor(row));
  return { rows, cmr, quality: (row) => tracker.expected(row) };
}

/** Writes the CDR and CMR files of one interval, named as CUCM names them, in `dir`. */
export async function writeInterval(dir: string, name: string, interval: { rows: readonly GeneratedRow[]; cmr: readonly CdrRecord[] }): Promise<{ cdr: string; cmr: string }> {
  const paths = { cdr: join(dir, `cdr_${name}`), cmr: join(dir, `cmr_${name}`) };
  await writeFile(paths.cmr, renderCmrFile(interval.cmr, { trailingNewline: false }));
  await writeFile(paths.cdr, renderCdrFile(interval.rows));
  return paths;
}

/**
 * Streams a large CDR file of synthetic traffic until it reaches `targetBytes` (with
 * backpressure, so generating 1 GB takes little memory), and with `cmrPath` its CMR twin.
 * Returns the row and byte counts, and how many calls carry quality once joined.
 */
export async function writeLargeCdrFile(
  path: string,
  targetBytes: number,
  seed = 7,
  cmrPath?: string,
): Promise<{ rows: number; calls: number; bytes: number; cmrRows: number; cmrBytes: number; joined: number }> {
  const out = createWriteStream(path);
  const cmrOut = cmrPath ? createWriteStream(cmrPath) : undefined;
  const tracker = new CmrRows(true);
  const header = `${renderHeader(CDR_FIELDS_V14)}\n`;
  out.write(header);
  const cmrHeader = `${renderHeader(CMR_FIELDS)}\n`;
  cmrOut?.write(cmrHeader);
  let bytes = Buffer.byteLength(header);
  let cmrBytes = cmrOut ? cmrHeader.length : 0;
  let rows = 0;
  let calls = 0;
  let cmrRows = 0;
  let joined = 0;
  let chunk: string[] = [];
  let cmrChunk: string[] = [];
  for (const row of syntheticRowStream(seed)) {
    if (bytes >= targetBytes) break;
    const line = `${renderRow(row.record, CDR_FIELDS_V14)}\n`;
    bytes += line.length;
    rows += 1;
    if (row.expected) calls += 1;
    chunk.push(line);
    if (cmrOut) {
      for (const record of tracker.rowsFor(row)) {
        const cmrLine = `${renderRow(record, CMR_FIELDS)}\n`;
        cmrBytes += cmrLine.length;
        cmrRows += 1;
        cmrChunk.push(cmrLine);
      }
      const q = tracker.expected(row);
      if (row.expected && (q.orig || q.dest)) joined += 1;
    }
    if (chunk.length === 500) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      if (cmrOut && !cmrOut.write(cmrChunk.join(''))) await once(cmrOut, 'drain');
      chunk = [];
      cmrChunk = [];
    }
  }
  out.end(chunk.join(''));
  cmrOut?.end(cmrChunk.join(''));
  await Promise.all([once(out, 'finish'), cmrOut ? once(cmrOut, 'finish') : undefined]);
  return { rows, calls, bytes, cmrRows, cmrBytes, joined };
}
