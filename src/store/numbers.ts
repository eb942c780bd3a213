import { wellFormed } from '../util/well-formed';

/**
 * The index key of a phone number: its digits, so `+1 (555) 010-0100` and `15550100100` meet;
 * a number without digits (`anonymous`, a SIP name) by its lower-cased text.
 */
export function numberKey(number: string): string {
  const digits = number.replace(/\D/g, '');
  // wellFormed: a lone surrogate in hostile call data would make encodeURIComponent throw.
  return digits !== '' ? digits : `=${encodeURIComponent(wellFormed(number.trim().toLowerCase()))}`;
}

/** A call's number index keys, comma-separated, each once (as the record's `nums` field holds them). */
export function numberKeys(...numbers: string[]): string {
  return [...new Set(numbers.filter((n) => n !== '').map(numberKey))].join(',');
}
