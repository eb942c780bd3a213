export const REDACTED = '[REDACTED]';

/** Header names whose values are always hidden. */
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key)$/i;

/**
 * Hides secrets: every known secret value wherever it appears in a string, and whole
 * values of credential headers. Secrets shorter than 4 characters are ignored (they would
 * blank out ordinary text).
 */
export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string>) {
    this.secrets = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  }

  /** A redactor that also hides `more` (such as OAuth tokens seen at run time). */
  with(more: Iterable<string>): Redactor {
    return new Redactor([...this.secrets, ...more]);
  }

  get empty(): boolean {
    return this.secrets.length === 0;
  }

  text(value: string): string {
    let out = value;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  headers(headers: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) out[name] = SECRET_HEADERS.test(name) ? REDACTED : this.text(value);
    return out;
  }

  /** Deep copy with every string scrubbed (Errors become `{type, message, code}`). */
  deep(value: unknown, depth = 0): unknown {
    if (typeof value === 'string') return this.text(value);
    if (depth > 8 || value === null || typeof value !== 'object') return value;
    if (value instanceof Error) return { type: value.name, message: this.text(value.message), code: (value as { code?: unknown }).code };
    if (Array.isArray(value)) return value.map((v) => this.deep(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.deep(v, depth + 1)]));
  }
}
