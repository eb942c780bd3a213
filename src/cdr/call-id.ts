/** The CDR fields a call id is built from; all are integers in every CUCM version. */
export const CALL_ID_FIELDS = ['globalCallID_callManagerId', 'globalCallID_callId', 'origLegCallIdentifier', 'destLegIdentifier'] as const;

/**
 * Deterministic call id of one CDR: `cdr-<callManagerId>-<callId>-<origLeg>-<destLeg>`.
 * The global call id alone is shared by every leg of a transferred or forwarded call, so the
 * two leg identifiers are what tell those records apart. The same record therefore always
 * gets the same id, whichever file, run or ingester it comes from.
 * Returns undefined when a part is not a whole number (a malformed record).
 */
export function cdrCallId(parts: readonly (string | undefined)[]): string | undefined {
  for (const part of parts) if (part === undefined || !/^\d{1,10}$/.test(part)) return undefined;
  return `cdr-${parts.join('-')}`;
}
