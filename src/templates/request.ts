import { CallhookError, TemplateError } from '../errors';
import { encodeRfc3986, textOutsideBlocks, type Template, type TemplateScope } from './engine';

/**
 * A header value may not contain control characters: CR/LF/NUL would split or end the header,
 * and C1 controls (U+0085, NEL) and U+2028/2029 are line breaks to some readers of a header
 * (its UTF-8 bytes read as Latin-1 show U+0085 as byte 0x85). Tab is allowed, as HTTP allows it.
 */
const FORBIDDEN_IN_HEADER = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/;
const NON_ASCII = /[^\x00-\x7f]/;

/** A path segment that URL parsers resolve away (`.`, `..`, and their `%2e` spellings, as WHATWG URL does). */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * The rendered URL must be an http(s) URL whose path has no `.` or `..` segment: values are
 * percent-encoded, but `..` is made of unreserved characters, and a URL parser would resolve it
 * (`/contacts/{{ n }}/details` with `n = ".."` would become `/details`).
 * @throws TemplateError otherwise.
 */
export function checkRenderedUrl(url: string): void {
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) throw new TemplateError('url: rendered URL is not a valid http(s) URL');
  // A dot segment starts right after a "/": most URLs have none, and skip the walk below.
  if (!url.includes('/.') && !/\/%2e/i.test(url)) return;
  const afterScheme = url.indexOf('//') + 2;
  const pathStart = url.slice(afterScheme).search(/[/?#]/);
  if (pathStart === -1 || url[afterScheme + pathStart] !== '/') return;
  const path = url.slice(afterScheme + pathStart).split(/[?#]/, 1)[0] ?? '';
  if (path.split('/').some((segment) => DOT_SEGMENT.test(segment))) {
    throw new TemplateError('url: rendered URL has a "." or ".." path segment (call data may not move the request to another path)');
  }
}

/**
 * Renders one field's template. An error that does not name its field yet (a CallhookError
 * says what it is about) becomes a TemplateError that does: `headers.X-Name: template failed: ...`.
 */
export function renderField(field: string, template: Template, scope: TemplateScope, unresolved?: Set<string>): string {
  try {
    return template.render(scope, unresolved);
  } catch (error) {
    throw error instanceof CallhookError ? error : new TemplateError(`${field}: template failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Renders the URL (values already percent-encoded by the URL template) and appends the query. */
export function renderUrl(
  url: Template,
  query: readonly (readonly [string, Template])[],
  scope: TemplateScope,
  unresolved: Set<string>,
): string {
  const base = renderField('url', url, scope, unresolved);
  if (query.length === 0) return base;
  const pairs = query.map(([key, value]) => `${encodeRfc3986(key)}=${encodeRfc3986(renderField(`query.${key}`, value, scope, unresolved))}`);
  const hashAt = base.indexOf('#');
  const [head, fragment] = hashAt === -1 ? [base, ''] : [base.slice(0, hashAt), base.slice(hashAt)];
  const separator = head.includes('?') ? (head.endsWith('?') || head.endsWith('&') ? '' : '&') : '?';
  return `${head}${separator}${pairs.join('&')}${fragment}`;
}

/**
 * Renders header values, as text (see headersOnTheWire for what is sent). Empty values are left
 * out (the product's "conditional headers"); a control character fails the app.
 * @throws TemplateError when a value contains CR, LF, NUL or another control character (C0 but tab, DEL, C1) or U+2028/2029.
 */
export function renderHeaders(
  headers: readonly (readonly [string, Template])[],
  scope: TemplateScope,
  unresolved: Set<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, template] of headers) {
    const value = renderField(`headers.${name}`, template, scope, unresolved);
    if (FORBIDDEN_IN_HEADER.test(value)) {
      throw new TemplateError(`header ${name}: rendered value contains a control character (CR, LF, NUL, U+0085, U+2028...)`);
    }
    if (value.trim() === '') continue;
    out[name] = value;
  }
  return out;
}

/**
 * True when a header value's template writes a control character whatever the call data: in a
 * value written in the file, or brought by a `${VARIABLE}`, renderHeaders would fail every call.
 * What call data brings is checked when rendered. A template that does not parse is false (its
 * compile problem is reported).
 */
export function alwaysHasControlCharacter(source: string): boolean {
  try {
    return FORBIDDEN_IN_HEADER.test(textOutsideBlocks(source));
  } catch {
    return false;
  }
}

/**
 * Headers as Node sends them: non-ASCII text as its UTF-8 bytes (Node writes a header string as
 * Latin-1). Done at sending, so the request shown and redacted keeps the text: a secret with a
 * non-ASCII character was shown converted, where the redactor could not find it.
 */
export function headersOnTheWire(headers: Record<string, string>): Record<string, string> {
  let wire: Record<string, string> | undefined;
  for (const name in headers) {
    const value = headers[name]!;
    if (!NON_ASCII.test(value)) continue;
    wire ??= { ...headers };
    wire[name] = Buffer.from(value, 'utf8').toString('latin1');
  }
  return wire ?? headers;
}
