import { acceptBuiltEvent, overlongFields, type CallEvent } from '../events/schema';
import { cdrCallId } from './call-id';
import { decodeCucmIp } from './ip';
import { rawRecord, type CdrLayout } from './layout';
import { legType } from './leg-type';
import type { QualitySource } from './quality';
import { quote } from '../util/quote';

/** What one parsed line becomes. */
export type MapResult =
  /** `joined`: the event carries the quality of at least one leg. */
  | { kind: 'event'; event: CallEvent; joined: boolean }
  /**
   * Nothing to send, nothing wrong: `not-a-call` a record of another type (cdrRecordType other
   * than 1); `abandoned` a phone taken off hook and put back without dialling.
   */
  | { kind: 'skip'; cause: 'not-a-call' | 'abandoned'; reason: string }
  /** A call record that cannot become an event. */
  | { kind: 'reject'; reason: string };

export interface MapContext {
  /** Policy to name in every event (`--policy`). */
  policy?: string;
  /** File name (no directory) recorded in the event as `cdr_file`. */
  file: string;
  line: number;
  /**
   * The CMR rows to join (`event.quality`); absent: the join is off or no CMR file was read,
   * and `quality` is null.
   */
  quality?: QualitySource;
}

/** Calling number used when CUCM recorded none (a trunk that sent no caller id). */
export const ANONYMOUS = 'anonymous';

/**
 * Maps one CDR (its fields in header order) to a call event. Field positions come from the
 * file's own header, so other CUCM versions' extra or reordered columns map the same way.
 */
export function mapRecord(fields: readonly string[], layout: CdrLayout, ctx: MapContext): MapResult {
  if (fields.length !== layout.names.length) {
    return { kind: 'reject', reason: `has ${fields.length} fields; the header has ${layout.names.length} (truncated or damaged line)` };
  }
  const get = (name: string): string => {
    const i = layout.index.get(name);
    return i === undefined ? '' : (fields[i] ?? '');
  };
  const recordType = get('cdrRecordType');
  if (recordType !== '1') {
    return /^\d+$/.test(recordType)
      ? { kind: 'skip', cause: 'not-a-call', reason: `cdrRecordType ${recordType} is not a call record` }
      : { kind: 'reject', reason: `cdrRecordType ${quote(recordType)} is not a number` };
  }
  const cmId = get('globalCallID_callManagerId');
  const callId = get('globalCallID_callId');
  const origLeg = get('origLegCallIdentifier');
  const destLeg = get('destLegIdentifier');
  const id = cdrCallId([cmId, callId, origLeg, destLeg]);
  if (!id) return { kind: 'reject', reason: 'globalCallID_callManagerId, globalCallID_callId, origLegCallIdentifier and destLegIdentifier must be whole numbers' };
  const origination = epochToIso(get('dateTimeOrigination'));
  if (!origination) return { kind: 'reject', reason: `dateTimeOrigination ${quote(get('dateTimeOrigination'))} is not an epoch time` };
  const called =
    get('finalCalledPartyNumber') || get('originalCalledPartyNumber') || get('finalCalledPartyNumber_uri') || get('originalCalledPartyNumber_uri');
  if (!called) {
    // With "CDR Log Calls With Zero Duration" on, CUCM writes a record for every off-hook and
    // on-hook without a number dialled: normal output, not a damaged record.
    if (toInt(get('dateTimeConnect')) === 0 && toInt(get('duration')) === 0) return { kind: 'skip', cause: 'abandoned', reason: 'abandoned: nothing dialled, never connected' };
    return { kind: 'reject', reason: 'no called number (finalCalledPartyNumber and originalCalledPartyNumber are empty)' };
  }

  const connect = epochToIso(get('dateTimeConnect'));
  const event: CallEvent = {
    call_id: id,
    calling_number: get('callingPartyNumber') || get('callingPartyNumber_uri') || ANONYMOUS,
    called_number: called,
    original_called_number: get('originalCalledPartyNumber'),
    calling_devicename: get('origDeviceName'),
    called_devicename: get('destDeviceName'),
    timestamp: origination,
    connect_time: connect,
    disconnect_time: epochToIso(get('dateTimeDisconnect')),
    duration: toInt(get('duration')) ?? 0,
    answered: connect !== null,
    orig_cause: toInt(get('origCause_value')),
    dest_cause: toInt(get('destCause_value')),
    orig_ip: decodeCucmIp(get('origIpAddr')) ?? (get('origIpv4v6Addr') || null),
    dest_ip: decodeCucmIp(get('destIpAddr')) ?? (get('destIpv4v6Addr') || null),
    orig_media_ip: decodeCucmIp(get('origMediaTransportAddress_IP')),
    dest_media_ip: decodeCucmIp(get('destMediaTransportAddress_IP')),
    global_call_id: `${cmId}-${callId}`,
    leg_type: legType(get),
    // On a recording or monitoring leg, the leg identifier of the call leg it records.
    conversation_id: nonZero(toInt(get('origConversationId'))),
    cluster_id: get('globalCallId_ClusterID'),
    cdr_file: ctx.file,
    cdr_line: ctx.line,
  };
  if (ctx.policy) event.policy = ctx.policy;
  const quality = ctx.quality?.call(cmId, callId, origLeg, destLeg) ?? null;
  event.quality = quality;
  event.cdr = rawRecord(fields, layout);
  // Every field above is valid by construction (the id, the times and both numbers are checked
  // here), so the event skips the schema pass that API input goes through; only the lengths the
  // schema limits are checked, as the API checks them.
  const overlong = overlongFields(event);
  if (overlong.length > 0) return { kind: 'reject', reason: overlong.join('; ') };
  const check = acceptBuiltEvent(event, JSON.stringify(event));
  return check.ok ? { kind: 'event', event, joined: quality !== null && (quality.orig !== null || quality.dest !== null) } : { kind: 'reject', reason: check.problems.join('; ') };
}

/** CUCM times are epoch seconds UTC; 0 means "did not happen" (e.g. never connected). */
export function epochToIso(raw: string): string | null {
  const n = toInt(raw);
  if (n === null || n <= 0) return null;
  const date = new Date(n * 1000);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function nonZero(n: number | null): number | null {
  return n === 0 ? null : n;
}

function toInt(raw: string): number | null {
  return /^-?\d{1,15}$/.test(raw) ? Number(raw) : null;
}
