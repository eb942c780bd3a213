import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isLoopback } from '../settings';
import { problem } from './problem';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the API token (health, readiness, metrics, static console assets). */
    public?: boolean;
  }
}

/** The host name of a `Host` header value: `[::1]:8080` → `::1`, `LocalHost:80` → `localhost`. */
export function hostName(header: string): string {
  const value = header.trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']') === -1 ? undefined : value.indexOf(']'));
  const colon = value.lastIndexOf(':');
  return (colon === -1 ? value : value.slice(0, colon)).replace(/\.$/, '');
}

/**
 * Constant-time comparison of a presented secret with the expected one. Their digests are
 * compared, not the secrets: those differ in length, and returning early on that told a caller
 * the token's length by timing.
 */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (expectedDigest?.secret !== expected) expectedDigest = { secret: expected, digest: digest(expected) };
  return timingSafeEqual(digest(given ?? ''), expectedDigest.digest);
}

const digest = (text: string) => hash('sha256', text, 'buffer');
/** The API token's digest, made once: every request is compared with it. */
let expectedDigest: { secret: string; digest: Buffer } | undefined;

/** Who a route is for: everyone (`public`), CUCM with `?api_key=` (`api-key`), or the bearer token. */
export type Access = 'public' | 'api-key' | 'token';

/**
 * Who may use the API, decided on the route that matched (never on the raw URL, which the
 * router decodes and normalises its own way), deny by default:
 * - with a token, every route needs `Authorization: Bearer <token>` unless its config says
 *   `public` (unknown routes too, so they reveal nothing);
 * - without a token the API only listens on loopback, and only loopback `Host` names are
 *   served, so a web page in a local browser cannot reach it through DNS rebinding; and only
 *   GET and HEAD are served to a page of another origin.
 */
export function registerGuard(app: FastifyInstance, apiToken: string | undefined): void {
  app.addHook('onRequest', async (request, reply) => refuseAccess(request, reply, apiToken, routeAccess(request)));
}

/**
 * Answers 403 or 401 when the request may not use a route with `access`, and returns nothing
 * when it may. A request the router could not match at all is checked as `token`, like an
 * unknown route.
 */
export function refuseAccess(request: FastifyRequest, reply: FastifyReply, apiToken: string | undefined, access: Access): FastifyReply | undefined {
  if (!apiToken) {
    const host = request.headers.host;
    if (host !== undefined && !isLoopback(hostName(host))) {
      return problem(reply, 'CALLHOOK_FORBIDDEN_HOST', `Host ${JSON.stringify(host)} is not a loopback name; without CALLHOOK_API_TOKEN the API only answers to localhost, 127.0.0.1 or [::1]`);
    }
    const foreign = request.method === 'GET' || request.method === 'HEAD' ? undefined : foreignOrigin(request);
    if (foreign) {
      return problem(reply, 'CALLHOOK_FORBIDDEN_ORIGIN', `a browser page of another origin (${foreign}) may not send ${request.method} requests to the API without CALLHOOK_API_TOKEN`);
    }
    return undefined;
  }
  if (access === 'public') return undefined;
  if (access === 'api-key') {
    // Only these routes take the token in the query: CUCM cannot send an Authorization header.
    const key = (request.query as { api_key?: unknown } | undefined)?.api_key;
    if (typeof key === 'string' && sameSecret(key, apiToken)) return undefined;
    return problem(reply, 'CALLHOOK_UNAUTHORIZED', 'missing or wrong API token (?api_key=<CALLHOOK_API_TOKEN> on /curri)');
  }
  if (!sameSecret(bearerToken(request.headers.authorization), apiToken)) {
    return problem(reply, 'CALLHOOK_UNAUTHORIZED', 'missing or wrong API token (Authorization: Bearer <CALLHOOK_API_TOKEN>)');
  }
  return undefined;
}

/**
 * The origin of the web page that sent the request, when it is not the API's own: without a token
 * nothing else stops a page on another local port, or a file:// page (origin "null"), from
 * queueing calls or replays through requests a browser sends without asking (a text/plain POST,
 * a bodiless replay). Clients other than browsers send neither header.
 */
function foreignOrigin(request: FastifyRequest): string | undefined {
  const { origin, host } = request.headers;
  if (origin !== undefined) return host !== undefined && hostOf(origin) === hostOf(`http://${host}`) ? undefined : JSON.stringify(origin);
  const site = request.headers['sec-fetch-site'];
  return site === 'cross-site' || site === 'same-site' ? `Sec-Fetch-Site: ${site}` : undefined;
}

/** The `host[:port]` of an origin or URL, as the URL parser normalises it; undefined when it is not one. */
function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110). */
function bearerToken(header: string | undefined): string | undefined {
  return header?.match(/^bearer +(.+)$/i)?.[1];
}

/** The matched route's access; an unknown route needs the token. */
function routeAccess(request: FastifyRequest): Access {
  if (request.is404) return 'token';
  const { config } = request.routeOptions;
  return config.public === true ? 'public' : config.apiKey === true ? 'api-key' : 'token';
}
