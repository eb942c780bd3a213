/**
 * Integers beyond 2^53 (the ids of 64-bit systems: Twitter's, Discord's, many CRMs') lose their
 * last digits as JavaScript numbers: `{"id":1234567890123456789}` parses to 1234567890123456800,
 * and a later app would send that. Every integer of 15 digits or fewer is safe, so a text with no
 * run of 16 digits anywhere (nearly every answer: one native regex pass) is parsed as it is.
 */
const SIXTEEN_DIGITS = /\d{16}/;

/**
 * JSON.parse, except that an integer literal that is not a safe integer keeps its exact digits,
 * as a string. Everything else is JSON.parse's own (duplicate keys, `__proto__` as a key, errors).
 * @throws SyntaxError as JSON.parse does
 */
export function parseJsonExactIntegers(text: string): unknown {
  if (!SIXTEEN_DIGITS.test(text)) return JSON.parse(text);
  return JSON.parse(quoteUnsafeIntegers(text));
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * The text with each integer literal outside strings that is not a safe integer written as a
 * string of its digits; numbers with a fraction or an exponent and everything else as they are.
 * Only well-formed literals are quoted (no leading zero), so text that is not JSON stays not JSON.
 */
export function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let copied = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    if (c !== 45 && !isDigit(c)) continue;
    // A number: -?digits, then maybe a fraction and an exponent, read to its end.
    const start = i;
    let end = c === 45 ? i + 1 : i;
    const digitsAt = end;
    while (end < text.length && isDigit(text.charCodeAt(end))) end++;
    const digits = end - digitsAt;
    let integer = true;
    if (text.charCodeAt(end) === 46) {
      integer = false;
      end++;
      while (end < text.length && isDigit(text.charCodeAt(end))) end++;
    }
    if ((text.charCodeAt(end) | 32) === 101) {
      integer = false;
      end++;
      if (text.charCodeAt(end) === 43 || text.charCodeAt(end) === 45) end++;
      while (end < text.length && isDigit(text.charCodeAt(end))) end++;
    }
    i = Math.max(start, end - 1);
    if (!integer || digits < 16 || text.charCodeAt(digitsAt) === 48) continue;
    const literal = text.slice(start, end);
    if (Number.isSafeInteger(Number(literal))) continue;
    out += `${text.slice(copied, start)}"${literal}"`;
    copied = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
