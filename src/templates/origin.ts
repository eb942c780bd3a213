import { TemplateError } from '../errors';

const SCHEME = /^https?:\/\//i;
/**
 * A host (a name or IP, IPv6 in brackets) and port as a templated URL's authority may render
 * after its literal user info: no "@" (no user info from call data, no host hidden behind one);
 * no "/", "?", "#" or "\" (which WHATWG URL reads as "/"), so no path or second authority.
 */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[^@/?#\\\s[\]:]+)(?::\d{0,5})?$/;
/** User info as it may be written: one "@", at its end. */
const USER_INFO = /^[^@/?#\\\s{}]*@$/;
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

/**
 * The user info written in a templated URL's scheme and authority (`user:pw@`), "" when none.
 * @throws Error when it is templated: call data may not pick credentials, or put the host behind an "@".
 */
export function literalUserInfo(originSource: string): string {
  const at = originSource.lastIndexOf('@');
  if (at === -1) return '';
  const scheme = originSource.indexOf('://');
  const userInfo = scheme === -1 ? '' : originSource.slice(scheme + 3, at + 1);
  if (!USER_INFO.test(userInfo)) throw new Error('with allow_templated_host, user info ("user:password@") must be written literally after "://", not templated');
  return userInfo;
}

/**
 * @throws TemplateError unless the rendered scheme and authority are `http(s)://host[:port]`,
 * with exactly the user info the template writes (`userInfo`, see literalUserInfo) if any.
 */
export function checkRenderedOrigin(origin: string, userInfo = ''): void {
  const scheme = SCHEME.exec(origin)?.[0];
  const authority = scheme === undefined ? '' : origin.slice(scheme.length);
  if (scheme === undefined || !authority.startsWith(userInfo) || !HOST_PORT.test(authority.slice(userInfo.length))) {
    throw new TemplateError('url: the templated scheme, host and port did not render as http(s)://host[:port] (user info only as written)');
  }
}
