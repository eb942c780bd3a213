import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../defaults';
import { jsonDepthExceeds } from '../util/json-depth';

/** A body nested deeper than the limit: refused before parsing, so validation never recurses that deep. */
export class JsonTooDeepError extends Error {
  override name = 'JsonTooDeepError';
  readonly statusCode = 400;
}

/**
 * JSON bodies: an empty body is no body (several HTTP clients send `Content-Type:
 * application/json` on a bodiless POST such as a replay), nesting is bounded, and the rest is
 * Fastify's own parser (prototype-poisoning checks included).
 */
export function registerJsonBody(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // JSON only, as the OpenAPI document says: Fastify's text/plain parser handed the routes a
  // string, refused as "an event must be a JSON object" instead of 415.
  app.removeContentTypeParser('text/plain');
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
