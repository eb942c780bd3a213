import { TemplateError } from '../errors';

/**
 * A URL's scheme and authority as an app with `allow_templated_host: true` may render them.
 * Nothing but the literal text can hold "@" (values cannot, see originValue), so this also
 * keeps call data from adding user info; "/", "?", "#" and "\" (which WHATWG URL reads as "/")
 * cannot appear after the "//", so no value can start a path or a second authority.
 */
const ORIGIN = /^https?:\/\/(?:[^@/?#\\\s]*@)?(?:\[[0-9A-Fa-f:.]+\]|[^@/?#\\\s[\]:]+)(?::\d{0,5})?$/i;
/** What a value may hold there: a scheme (with its "://"), a host name or IP (IPv6 in brackets), a port. */
const ORIGIN_VALUE = /^[A-Za-z0-9\-._~:[\]/]*$/;

/**
 * Where a URL template's path, query or fragment starts: its first "/", "?" or "#" written
 * outside a mustache, not counting the "//" of "://"; the source's length when there is none.
 * What comes before is the scheme and authority.
 */
export function originEnd(source: string): number {
  let schemeSeen = false;
  for (let i = 0; i < source.length; i++) {
    if (source.startsWith('{{', i)) {
      const close = source.indexOf('}}', i + 2);
      if (close === -1) return source.length;
      i = close + 1;
    } else if (!schemeSeen && source.startsWith('://', i)) {
      schemeSeen = true;
      i += 2;
    } else if ('/?#'.includes(source.charAt(i))) {
      return i;
    }
  }
  return source.length;
}

/**
 * A value rendered into the scheme and authority, inserted as it is (percent-encoding would
 * turn "127.0.0.1:9" into "127.0.0.1%3A9").
 * @throws TemplateError when it holds anything a scheme, host or port does not ("@", "%", spaces...).
 */
export function originValue(value: string): string {
  if (ORIGIN_VALUE.test(value)) return value;
  throw new TemplateError('url: a value in the scheme, host and port may hold only letters, digits and "-._~:[]/" (no "@", "?", "#", "%" or spaces)');
}

/** @throws TemplateError unless the rendered scheme and authority are `http(s)://host[:port]` (user info only as written). */
export function checkRenderedOrigin(origin: string): void {
  if (!ORIGIN.test(origin)) throw new TemplateError('url: the templated scheme, host and port did not render as http(s)://host[:port]');
}
