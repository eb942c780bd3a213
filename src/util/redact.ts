import { decodeOrKeep } from './decode';
import { wellFormed } from './well-formed';

export const REDACTED = '[REDACTED]';

/** Header and query parameter names that say credential (`Authorization`, `X-Api-Key`, `PRIVATE-TOKEN`, `access_token`, `sig`...). */
const CREDENTIAL_NAME = /auth|token|key|secret|sig|passw|cookie|session|credential|private/i;
/** Named like credentials, but not secret: what callhook adds to every request (its id, a signature of the body). */
const NOT_SECRET = /^(idempotency-key|webhook-signature)$/i;

/** Whether a header's or query parameter's value is a credential, by its name. */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name) && !NOT_SECRET.test(name);
}

/** A URL whose query may hold a credential parameter: a cheap test before the query is parsed. */
const CREDENTIAL_IN_QUERY = new RegExp(`[?&][^=&#]*(${CREDENTIAL_NAME.source})[^=&#]*=`, 'i');

/** Secrets shorter than this cannot be told apart from ordinary text; the policies loader refuses them. */
export const MIN_SECRET_CHARS = 4;

/** Past this depth a value is replaced whole: results are bounded far below it, so only hostile input gets here. */
const MAX_DEPTH = 500;

/**
 * The forms a secret takes on the wire and in what receivers echo: as is, percent-encoded (in a
 * URL or query), form-encoded (space as `+`, both as callhook's templates and URLSearchParams
 * write it) and JSON-escaped (a receiver echoing a JSON body as text).
 */
function spellings(secret: string): string[] {
  const encoded = encodeURIComponent(wellFormed(secret)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const forms = [secret, encoded, encoded.replace(/%20/g, '+'), new URLSearchParams({ x: secret }).toString().slice(2), JSON.stringify(secret).slice(1, -1)];
  // Non-ASCII text goes out in a header as UTF-8 bytes, which a receiver reading them as
  // Latin-1 (as Node does) echoes as other characters.
  if (/[^\x00-\x7f]/.test(secret)) forms.push(Buffer.from(secret, 'utf8').toString('latin1'));
  return forms;
}

/**
 * Hides secrets: every known secret value, in each of its wire spellings, wherever it appears in
 * a string, and whole values of credential headers. It is the one redaction step every result,
 * request trace and log line passes before it is stored, logged or returned.
 */
export class Redactor {
  /** Every spelling of every secret, longest first (so a longer one is never half hidden by a shorter one). */
  private readonly secrets: readonly string[];
  /** A string shorter than every secret holds none: most keys and values are (checked first). */
  private readonly shortest: number;

  /** `known`: spellings already worked out (another Redactor's), taken as they are. */
  constructor(secrets: Iterable<string>, known: readonly string[] = []) {
    const all = new Set(known);
    for (const secret of secrets) if (secret.length >= MIN_SECRET_CHARS) for (const form of spellings(secret)) all.add(form);
    this.secrets = [...all].sort((a, b) => b.length - a.length);
    this.shortest = this.secrets.at(-1)?.length ?? Infinity;
  }

  /** A redactor that also hides `more` (such as the OAuth token an attempt sent). */
  with(more: Iterable<string>): Redactor {
    // Per attempt: only the new secrets' spellings are worked out (not spellings of spellings).
    return new Redactor(more, this.secrets);
  }

  get empty(): boolean {
    return this.secrets.length === 0;
  }

  text(value: string): string {
    if (value.length < this.shortest) return value;
    let out = value;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  headers(headers: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) out[name] = isCredentialName(name) ? REDACTED : this.text(value);
    return out;
  }

  /**
   * The value with every string, and every object key, scrubbed: the same value when nothing
   * in it needs hiding (copying only what changes keeps a result without secrets free of
   * allocations: the worker redacts every app result). Errors become `{type, message, code}`; a
   * cycle or anything nested deeper than 500 levels becomes `[REDACTED]` rather than being
   * shown unscrubbed.
   */
  deep(value: unknown): unknown {
    return this.walk(value, 0, new Set());
  }

  private walk(value: unknown, depth: number, path: Set<object>): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth > MAX_DEPTH || path.has(value)) return REDACTED;
    if (value instanceof Error) return { type: value.name, message: this.text(value.message), code: (value as { code?: unknown }).code };
    path.add(value);
    const out = Array.isArray(value) ? this.walkArray(value, depth, path) : this.walkObject(value as Record<string, unknown>, depth, path);
    path.delete(value);
    return out;
  }

  private walkArray(value: unknown[], depth: number, path: Set<object>): unknown[] {
    let out = value;
    for (let i = 0; i < value.length; i++) {
      const item = this.walk(value[i], depth + 1, path);
      if (item === value[i]) continue;
      if (out === value) out = value.slice();
      out[i] = item;
    }
    return out;
  }

  private walkObject(value: Record<string, unknown>, depth: number, path: Set<object>): Record<string, unknown> {
    const keys = Object.keys(value);
    let copy: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const item = value[key];
      const shownKey = this.text(key);
      const shown = this.walk(item, depth + 1, path);
      if (!copy && (shownKey !== key || shown !== item)) {
        copy = {};
        for (const earlier of keys.slice(0, i)) define(copy, earlier, value[earlier]);
      }
      if (copy) define(copy, shownKey, shown);
    }
    return copy ?? value;
  }
}

/** `<scheme> <credentials>`, as in an Authorization header. */
const AUTH_SCHEME = /^(authorization|proxy-authorization)$/i;

/**
 * The credentials a request carries besides the configured secrets, written literally in the
 * file or rendered, so that a receiver that echoes its request cannot get them into a result:
 * each credential header's value (an Authorization header's without its scheme, which stays
 * readable), each credential query parameter's, and the password of a URL's user info, also as
 * the `Basic` header an HTTP client derives from it.
 */
export function credentialsIn(url: string, headers: Readonly<Record<string, string>>): string[] {
  const found: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!isCredentialName(name)) continue;
    const space = value.indexOf(' ');
    found.push(space > 0 && AUTH_SCHEME.test(name) ? value.slice(space + 1) : value);
  }
  if (CREDENTIAL_IN_QUERY.test(url)) found.push(...queryCredentials(url));
  if (url.includes('@')) found.push(...userInfoSecrets(url));
  return found;
}

/** The values of a URL's credential query parameters, as written and decoded. */
function queryCredentials(url: string): string[] {
  const query = url.slice(url.indexOf('?') + 1).split('#')[0]!;
  const found: string[] = [];
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    if (equals <= 0 || !isCredentialName(decodeOrKeep(pair.slice(0, equals)))) continue;
    const value = pair.slice(equals + 1);
    if (value.length >= MIN_SECRET_CHARS) found.push(value, decodeOrKeep(value.replace(/\+/g, ' ')));
  }
  return found;
}

/**
 * The password in a URL's user info, as written and decoded, each also as the `Basic` credential
 * an HTTP client derives from it; none for a URL without one.
 */
export function userInfoSecrets(url: string): string[] {
  if (!URL.canParse(url)) return [];
  const { username, password } = new URL(url);
  const found: string[] = [];
  for (const [user, pass] of [[username, password], [decodeOrKeep(username), decodeOrKeep(password)]] as const) {
    if (pass) found.push(pass, Buffer.from(`${user}:${pass}`).toString('base64'));
  }
  return found;
}

/** defineProperty: a `__proto__` key from parsed JSON must stay a key, not become the copy's prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A URL (or comma-separated URLs, as REDIS_URL lists cluster nodes) safe to print: passwords replaced. */
export function withoutPassword(urls: string): string {
  return urls
    .split(',')
    .map((url) => url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, `$1:${REDACTED}@`))
    .join(',');
}
