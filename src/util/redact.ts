import { decodeOrKeep } from './decode';

export const REDACTED = '[REDACTED]';

/** Header names whose values are always hidden. */
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token)$/i;

/** Secrets shorter than this cannot be told apart from ordinary text; the policies loader refuses them. */
export const MIN_SECRET_CHARS = 4;

/** Past this depth a value is replaced whole: results are bounded far below it, so only hostile input gets here. */
const MAX_DEPTH = 500;

/**
 * The forms a secret takes on the wire: as is, percent-encoded (in a URL or query) and
 * form-encoded (space as `+`).
 */
function spellings(secret: string): string[] {
  const encoded = encodeURIComponent(secret).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return [secret, encoded, encoded.replace(/%20/g, '+')];
}

/**
 * Hides secrets: every known secret value, in each of its wire spellings, wherever it appears in
 * a string, and whole values of credential headers. It is the one redaction step every result,
 * request trace and log line passes before it is stored, logged or returned.
 */
export class Redactor {
  private readonly secrets: readonly string[];
  /** A string shorter than every secret holds none: most keys and values are (checked first). */
  private readonly shortest: number;

  constructor(secrets: Iterable<string>) {
    const all = new Set<string>();
    for (const secret of secrets) if (secret.length >= MIN_SECRET_CHARS) for (const form of spellings(secret)) all.add(form);
    this.secrets = [...all].sort((a, b) => b.length - a.length);
    this.shortest = this.secrets.at(-1)?.length ?? Infinity;
  }

  /** A redactor that also hides `more` (such as the OAuth token an attempt sent). */
  with(more: Iterable<string>): Redactor {
    return new Redactor([...this.secrets, ...more]);
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
    for (const [name, value] of Object.entries(headers)) out[name] = SECRET_HEADERS.test(name) ? REDACTED : this.text(value);
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
 * The credentials a request carries besides the configured secrets, so that a receiver that
 * echoes its request cannot get them into a result: each credential header's value (an
 * Authorization header's without its scheme, which stays readable), and the password of a URL's
 * user info, also as the `Basic` header an HTTP client derives from it.
 */
export function credentialsIn(url: string, headers: Readonly<Record<string, string>>): string[] {
  const found: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!SECRET_HEADERS.test(name)) continue;
    const space = value.indexOf(' ');
    found.push(space > 0 && AUTH_SCHEME.test(name) ? value.slice(space + 1) : value);
  }
  if (url.includes('@')) found.push(...userInfoSecrets(url));
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
