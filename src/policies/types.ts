import type { BodyNode } from '../templates/body';
import type { Template } from '../templates/engine';
import type { FieldReader } from './match-field';

export type Phase = 'post_call' | 'real_time';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type AuthConfig =
  | { type: 'none' }
  | { type: 'basic'; username: string; password: string }
  | { type: 'bearer'; token: string }
  | {
      type: 'oauth2';
      token_url: string;
      client_id: string;
      client_secret: string;
      scope?: string;
      /** How the client authenticates at the token endpoint. @defaultValue 'basic' (RFC 6749 2.3.1) */
      client_auth: 'basic' | 'body';
    };

/** What a request carries, compiled: a JSON value, form fields, or one text template. */
export type AppBody =
  | { readonly format: 'json'; readonly node: BodyNode }
  | { readonly format: 'form'; readonly fields: readonly (readonly [string, Template])[] }
  | { readonly format: 'text'; readonly template: Template };

/** Requests per period, shared by every worker; sends are spaced `intervalMs` apart. */
export interface RateLimit {
  readonly count: number;
  readonly periodMs: number;
  readonly intervalMs: number;
}

export interface CircuitRule {
  /** Consecutive network, 5xx or timeout failures that open the destination's circuit. */
  readonly failures: number;
  readonly openForMs: number;
  /** A call waits at most this long for an open circuit, then is sent anyway. @defaultValue the app's longest retry schedule */
  readonly maxWaitMs: number;
}

/** PEM contents read at load. */
export interface TlsOptions {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly rejectUnauthorized: boolean;
}

/** One webhook app, validated and with every template compiled. */
export interface WebhookApp {
  readonly name: string;
  /** Key of the app's result in `app_data` (lower-kebab of `name` unless given). */
  readonly slug: string;
  readonly phase: Phase;
  readonly order: number;
  readonly method: HttpMethod;
  readonly url: Template;
  readonly query: readonly (readonly [string, Template])[];
  readonly headers: readonly (readonly [string, Template])[];
  readonly body: AppBody | undefined;
  /** The request's Content-Type (a bodiless request says application/json, as before). */
  readonly contentType: string;
  readonly auth: AuthConfig;
  /** `scheme://host:port` when the URL's authority is literal; undefined when templated (worked out per call). */
  readonly destination: string | undefined;
  /** Standard Webhooks signing keys (the bytes after `whsec_`), the current one first: each signs every request. */
  readonly signingKeys: readonly Buffer[] | undefined;
  readonly tls: TlsOptions | undefined;
  readonly rateLimit: RateLimit | undefined;
  /** Renders the limit's key; undefined: the app's own (policy and slug). */
  readonly rateLimitKey: Template | undefined;
  /** `false`: the app ignores its destination's circuit (and does not count towards it). */
  readonly circuit: CircuitRule | false;
  /** Whole-attempt timeout in ms. @defaultValue 30000 */
  readonly timeoutMs: number;
  /** Retries after the first attempt. @defaultValue 3 */
  readonly retryCount: number;
  /** First retry delay in ms, doubled for each further retry. @defaultValue 1000 */
  readonly retryDelayMs: number;
  /** Extra statuses (such as 429) retried besides 5xx. */
  readonly retryOnStatus: ReadonlySet<number>;
  /** Retry delays vary by up to this fraction either way. @defaultValue 0.2 */
  readonly retryJitter: number;
  readonly when: Template | undefined;
  readonly message: Template | undefined;
  readonly onFailure: 'continue' | 'stop';
  /** Larger responses fail the app. @defaultValue 1048576 */
  readonly maxResponseBytes: number;
  /** A larger rendered request (URL, headers and body, in bytes) fails the app. @defaultValue 1048576 */
  readonly maxRequestBytes: number;
}

/** One `match` rule: a pattern (RE2 syntax) that an event field must contain a match of. */
export interface FieldMatch {
  /** As written: a top-level field or a dotted path (`cdr.finalCalledPartyNumberPartition`). */
  readonly field: string;
  readonly pattern: string;
  /** Reads the field from an event (match-field.ts). */
  readonly read: FieldReader;
  test(value: string): boolean;
}

/** A policy's answer to CUCM through CURRI, every value a compiled template. */
export interface CurriBlock {
  /** Renders to continue, reject or divert. @defaultValue continue */
  readonly action: Template;
  readonly callingName: Template | undefined;
  readonly callingNumber: Template | undefined;
  readonly calledNumber: Template | undefined;
  readonly divertTo: Template | undefined;
  readonly greeting: Template | undefined;
  /** What CUCM is told when an app fails, a template breaks or the deadline passes. @defaultValue continue */
  readonly onError: 'continue' | 'reject';
  /** Queue the call's post-call apps once CUCM has its answer. @defaultValue true */
  readonly postCall: boolean;
}

export interface Policy {
  readonly id: string;
  readonly description: string | undefined;
  /** Patterns on event fields; all must match. Undefined: the policy runs only when named. */
  readonly match: readonly FieldMatch[] | undefined;
  /** All apps sorted by `order` (ties keep file order). */
  readonly apps: readonly WebhookApp[];
  readonly curri: CurriBlock | undefined;
}

export interface CallhookConfig {
  readonly policies: readonly Policy[];
  readonly byId: ReadonlyMap<string, Policy>;
  /** Values that must never be shown: auth credentials and the `${ENV}` substitutions that are secrets (policies/secrets.ts). */
  readonly secrets: readonly string[];
  /** Where the config came from, for logs. */
  readonly source: string;
  /** What loads but cannot work as meant (policies/warnings.ts): `config check` prints them, start-up logs them. */
  readonly warnings: readonly string[];
}
