/**
 * What a call record is a leg of: a `call`, or a leg CUCM set up to `recording` (built-in-bridge
 * or network recording) or `monitoring` (silent monitoring) a call. Those legs are records of
 * their own (their own global call id), unanswered and 0 s long, so without this they look like
 * separate missed calls to the recorder's number.
 */
export type LegType = 'call' | 'recording' | 'monitoring';

/** Cisco's "on behalf of" codes and redirect reasons that mark such a leg (CDR guide, Redirect Reason Codes). */
const RECORDING = { onBehalfOf: '27', reason: '354' };
const MONITORING = { onBehalfOf: '28', reason: '370' };

/** The leg type of a CDR, from its redirect fields (`get` reads a field by name, `""` when absent). */
export function legType(get: (field: string) => string): LegType {
  const marked = (codes: { onBehalfOf: string; reason: string }) =>
    get('origCalledPartyRedirectOnBehalfOf') === codes.onBehalfOf ||
    get('lastRedirectRedirectOnBehalfOf') === codes.onBehalfOf ||
    get('origCalledPartyRedirectReason') === codes.reason ||
    get('lastRedirectRedirectReason') === codes.reason;
  if (marked(RECORDING)) return 'recording';
  if (marked(MONITORING)) return 'monitoring';
  return 'call';
}
