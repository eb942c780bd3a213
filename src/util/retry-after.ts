/** An asctime date (`Sun Nov  6 08:49:37 1994`), one of the three HTTP-date forms; it names no zone. */
const ASCTIME = /^[A-Za-z]{3} [A-Za-z]{3} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4}$/;

/** `Retry-After` (delta seconds or an HTTP date) as ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(header: unknown, now = Date.now()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // HTTP dates are GMT (RFC 9110 5.6.7); Date.parse would read a date without a zone as local time.
  const date = Date.parse(ASCTIME.test(value) ? `${value} GMT` : value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
