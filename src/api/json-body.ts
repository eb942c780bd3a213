import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../defaults';

/** A body nested deeper than the limit: refused before parsing, so validation never recurses that deep. */
export class JsonTooDeepError extends Error {
  override name = 'JsonTooDeepError';
  readonly statusCode = 400;
}

/**
 * Depth of the deepest array or object in JSON text, counted without parsing (strings skipped),
 * stopping as soon as `limit` is passed. Linear in the text.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > limit) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/**
 * JSON bodies: an empty body is no body (several HTTP clients send `Content-Type:
 * application/json` on a bodiless POST such as a replay), nesting is bounded, and the rest is
 * Fastify's own parser (prototype-poisoning checks included).
 */
export function registerJsonBody(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    if (jsonDepthExceeds(text, LIMITS.jsonDepth)) {
      return done(new JsonTooDeepError(`the JSON body is nested more than ${LIMITS.jsonDepth} levels deep`), undefined);
    }
    parseJson(request, text, done);
  });
}
