import { rawRecord, type CdrLayout } from './layout';
import { parseVqMetrics, type VqMetrics } from './vq';

/** One call leg's voice quality, from its CMR row: `event.quality.orig` or `event.quality.dest`. */
export interface LegQuality {
  /** `deviceName`: the phone or gateway that measured it. */
  device_name: string;
  /** `directoryNum`. */
  directory_number: string;
  /** `numberPacketsSent`, RTP packets; null when the field is absent or empty. */
  packets_sent: number | null;
  /** `numberPacketsReceived`. */
  packets_received: number | null;
  /** `numberPacketsLost`. */
  packets_lost: number | null;
  /** `numberOctetsSent`, RTP payload bytes. */
  octets_sent: number | null;
  /** `numberOctetsReceived`. */
  octets_received: number | null;
  /** `jitter`, milliseconds. */
  jitter_ms: number | null;
  /** `latency`, milliseconds. */
  latency_ms: number | null;
  /** `varVQMetrics` parsed (`CCR`, `ICR`, `MLQK`...); null when the device reported none. */
  vq: VqMetrics | null;
  /**
   * The call's MOS listening quality (1-5): `MLQKav`, the average over the stream, else `MLQK`
   * (which Cisco defines as the score of the last 8 seconds only); null when the phone reports
   * neither or 0 (not computed).
   */
  mos: number | null;
  /** `MLQKmn`, the lowest 8-second score of the stream; null when absent or 0. */
  mos_min: number | null;
  /** Every field of the CMR row, raw text, under the file's own field names. */
  cmr: Record<string, string>;
}

/**
 * Both legs of a call record: `event.quality`. A leg is null when the interval's CMR file has
 * no row for it (trunks and some gateways write none).
 */
export interface CallQuality {
  orig: LegQuality | null;
  dest: LegQuality | null;
}

/** Where call records find their legs' quality while a CDR file is mapped. */
export interface QualitySource {
  /**
   * The quality of call `cmId-callId`'s two legs, or null when it is unknown: no CMR file of
   * the call's interval was read and no other CMR row of the run has either leg.
   */
  call(cmId: string, callId: string, origLeg: string, destLeg: string): CallQuality | null;
}

function count(raw: string | undefined): number | null {
  return raw !== undefined && /^-?\d{1,15}$/.test(raw) ? Number(raw) : null;
}

/** A MOS metric as a number; null when absent, not a number, or 0 (the phone computed none: a call too short). */
function score(metric: number | string | undefined): number | null {
  return typeof metric === 'number' && metric > 0 ? metric : null;
}

/** Builds a leg's quality from its CMR row (fields in header order). */
export function legQuality(fields: readonly string[], layout: CdrLayout): LegQuality {
  const get = (name: string): string | undefined => {
    const i = layout.index.get(name);
    return i === undefined ? undefined : fields[i];
  };
  const vq = parseVqMetrics(get('varVQMetrics') ?? '');
  return {
    device_name: get('deviceName') ?? '',
    directory_number: get('directoryNum') ?? '',
    packets_sent: count(get('numberPacketsSent')),
    packets_received: count(get('numberPacketsReceived')),
    packets_lost: count(get('numberPacketsLost')),
    octets_sent: count(get('numberOctetsSent')),
    octets_received: count(get('numberOctetsReceived')),
    jitter_ms: count(get('jitter')),
    latency_ms: count(get('latency')),
    vq,
    mos: score(vq?.MLQKav) ?? score(vq?.MLQK),
    mos_min: score(vq?.MLQKmn),
    cmr: rawRecord(fields, layout),
  };
}
