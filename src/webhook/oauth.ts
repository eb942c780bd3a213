import type { AxiosInstance } from 'axios';
import { DEFAULTS } from '../defaults';
import { CallhookError } from '../errors';
import type { AuthConfig } from '../policies/types';

type OAuth2 = Extract<AuthConfig, { type: 'oauth2' }>;
export interface CachedToken {
  readonly token: string;
  /** When to stop using it (ms since epoch): shortly before the server's expiry. */
  readonly refreshAt: number;
  /**
   * Fetched after a receiver refused (401) the token before it, and accepted by none since: a
   * 401 to it is not answered with yet another token (the receiver refuses the client, not a
   * stale token), so a receiver that refuses every token costs no token request per call.
   */
  replacement: boolean;
}

/** A token-endpoint failure; `retryable` when it was a network error or a 5xx. */
export class OAuthTokenError extends CallhookError {
  override name = 'OAuthTokenError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super('CALLHOOK_OAUTH_TOKEN', message, options);
  }
}

/** Lifetime assumed when the token endpoint gives no `expires_in`. */
const DEFAULT_LIFETIME_MS = 5 * 60_000;
/** Refresh this long before expiry: 60 s, or 10 % of a short lifetime. */
const refreshMargin = (lifetimeMs: number) => Math.min(60_000, lifetimeMs * 0.1);

/**
 * OAuth2 client-credentials tokens, cached per (token_url, client_id, scope) and shared by
 * concurrent calls: while one fetch is in flight every caller awaits the same promise.
 */
export class OAuthTokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Credentials whose token a 401 dropped: the next token fetched for them is a replacement. */
  private readonly refused = new Set<string>();
  /** Token requests sent (for metrics and tests). */
  fetches = 0;

  constructor(
    private readonly http: AxiosInstance,
    private readonly now: () => number = Date.now,
    private readonly timeoutMs: number = DEFAULTS.oauthTimeoutMs,
    /** Told about every token request (metrics). */
    private readonly onFetch: (ok: boolean) => void = () => undefined,
  ) {}

  async getToken(auth: OAuth2): Promise<string> {
    const key = cacheKey(auth);
    const cached = this.tokens.get(key);
    if (cached && cached.refreshAt > this.now()) return cached.token;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchToken(auth).then(
        (token) => {
          this.onFetch(true);
          return token;
        },
        (error: unknown) => {
          this.onFetch(false);
          throw error;
        },
      );
      pending.finally(() => this.inflight.delete(key)).catch(() => undefined);
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /** The token getToken would answer now without a fetch, if any. */
  cached(auth: OAuth2): CachedToken | undefined {
    const cached = this.tokens.get(cacheKey(auth));
    return cached && cached.refreshAt > this.now() ? cached : undefined;
  }

  /** Drops `token` after a 401, unless a newer token has already replaced it. */
  invalidate(auth: OAuth2, token: string): void {
    const key = cacheKey(auth);
    if (this.tokens.get(key)?.token !== token) return;
    this.tokens.delete(key);
    this.refused.add(key);
  }

  /** A receiver accepted `token` (2xx): a 401 to it later may be an early revocation again. */
  accepted(auth: OAuth2, token: string): void {
    const cached = this.tokens.get(cacheKey(auth));
    if (cached?.token === token) cached.replacement = false;
  }

  private async fetchToken(auth: OAuth2): Promise<string> {
    this.fetches += 1;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
    };
    if (auth.client_auth === 'body') {
      form.set('client_id', auth.client_id);
      form.set('client_secret', auth.client_secret);
    } else {
      // RFC 6749 2.3.1: both parts are form-encoded before being joined for Basic auth.
      const credentials = `${formEncode(auth.client_id)}:${formEncode(auth.client_secret)}`;
      headers.Authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    let response;
    try {
      response = await this.http.post<string>(auth.token_url, form.toString(), {
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
        // Counted after decompression: a gzip bomb stops at the limit too.
        maxContentLength: DEFAULTS.oauthMaxBytes,
        maxBodyLength: DEFAULTS.oauthMaxBytes,
      });
    } catch (error) {
      if (/maxContentLength/i.test((error as Error).message)) {
        // No token is that large: a page (a proxy's, an outage's), retried as a page that is not JSON is.
        throw new OAuthTokenError(`token endpoint ${auth.token_url} answered more than ${DEFAULTS.oauthMaxBytes} bytes`, true);
      }
      throw new OAuthTokenError(`token request to ${auth.token_url} failed: ${describe(error)}`, true);
    }
    if (response.status < 200 || response.status >= 300) {
      // 5xx, 429 (throttled) and 408 pass; a refused client (401, 400) does not.
      throw new OAuthTokenError(
        `token endpoint ${auth.token_url} answered HTTP ${response.status}`,
        response.status >= 500 || response.status === 429 || response.status === 408,
      );
    }
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(response.data) as typeof body;
    } catch {
      // A page of a proxy or of maintenance, answered 200: tried again, as a 503 would be.
      throw new OAuthTokenError(`token endpoint ${auth.token_url} did not answer JSON`, true);
    }
    if (typeof body.access_token !== 'string' || body.access_token === '') {
      throw new OAuthTokenError(`token endpoint ${auth.token_url} gave no access_token`, false);
    }
    const expiresIn = Number(body.expires_in);
    const lifetimeMs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : DEFAULT_LIFETIME_MS;
    const key = cacheKey(auth);
    this.tokens.set(key, {
      token: body.access_token,
      refreshAt: this.now() + lifetimeMs - refreshMargin(lifetimeMs),
      replacement: this.refused.delete(key),
    });
    return body.access_token;
  }
}

function cacheKey(auth: OAuth2): string {
  return JSON.stringify([auth.token_url, auth.client_id, auth.scope ?? '']);
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e.code ?? e.message ?? 'unknown error';
}
