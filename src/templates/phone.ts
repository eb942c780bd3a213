import { text } from './text';

/** A country calling code: 1 to 3 digits, not starting with 0 (`44`, `"+44"`). */
export function countryCode(value: unknown): string | undefined {
  const code = text(value).trim().replace(/^\+/, '');
  return /^[1-9]\d{0,2}$/.test(code) ? code : undefined;
}

/** What people write inside phone numbers; anything else (letters, `*`, `#`) means it is not one. */
const PHONE = /^\+?[\d\s\-.()/]*$/;

/**
 * E.164 (`+` and 7-15 digits) from a number as people and CUCM write it, "" when it is not one:
 * a leading `+` or `00` is international (`011` too in the North American plan, country 1);
 * otherwise `country` is prefixed after one trunk prefix.
 */
export function e164(value: unknown, country?: unknown): string {
  let number = text(value).trim().replace(/^(?:sips?|tel):/i, '');
  number = number.slice(0, number.search(/[@;]|$/)); // the user part of a SIP or tel URI
  if (!PHONE.test(number)) return '';
  // "+44 (0)20 7946 0000": the (0) is the trunk prefix, not dialled from abroad.
  const international = number.startsWith('+');
  let digits = (international ? number.replace('(0)', '') : number).replace(/\D/g, '');
  const code = international ? undefined : countryCode(country);
  if (!international && digits.startsWith('00')) {
    digits = digits.slice(2);
  } else if (code === '1' && digits.startsWith('011')) {
    digits = digits.slice(3); // NANP area codes never start with 0: 011 is always the international prefix
  } else if (!international) {
    if (code === undefined) return '';
    // One trunk prefix: 0 in most countries, 1 in the North American plan (1 555 123 4567).
    const national = digits.replace(code === '1' && digits.length === 11 ? /^1/ : /^0/, '');
    if (national.length < 6) return ''; // an internal extension ("1000"), not a public number
    digits = code + national;
  }
  return /^[1-9]\d{6,14}$/.test(digits) ? `+${digits}` : '';
}
