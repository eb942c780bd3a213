import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../defaults';
import { jsonDepthExceeds } from '../util/json-depth';

/** A JSON body refused before any route sees it, with the reason (400 CALLHOOK_BAD_REQUEST). */
export class BadJsonBodyError extends Error {
  override name = 'BadJsonBodyError';
  readonly statusCode = 400;
}

/**
 * JSON bodies: an empty body is no body (several HTTP clients send `Content-Type:
 * application/json` on a bodiless POST such as a replay), nesting is bounded, and a key that
 * could poison a prototype when the object is later merged is refused, named with its path.
 * Each refusal says why (Fastify's own parser said "not valid JSON" for all of them).
 */
export function registerJsonBody(app: FastifyInstance): void {
  // JSON only, as the OpenAPI document says: Fastify's text/plain parser handed the routes a
  // string, refused as "an event must be a JSON object" instead of 415.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as BadJsonBodyError, undefined);
    }
  });
}

/** @throws BadJsonBodyError saying what is wrong */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  if (jsonDepthExceeds(text, LIMITS.jsonDepth)) throw new BadJsonBodyError(`the JSON body is nested more than ${LIMITS.jsonDepth} levels deep`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BadJsonBodyError(`the body is not valid JSON: ${(error as Error).message}`);
  }
  // Only a body that spells one of the keys can hold it: most bodies are not walked. A \u escape
  // can spell any letter of a key (`"\u005f_proto__"`), so a body with one is walked too.
  const forbidden = text.includes('__proto__') || text.includes('constructor') || text.includes('\\u') ? forbiddenKey(value, '$') : undefined;
  if (forbidden) throw new BadJsonBodyError(`the JSON body has the key ${forbidden}, which callhook refuses (it could change every object's prototype when merged)`);
  return value;
}

/** The path of the first `__proto__` key, or `constructor` holding a `prototype`, in a parsed value. */
function forbiddenKey(value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = forbiddenKey(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key === '__proto__') return `"__proto__" at ${path}`;
    if (key === 'constructor' && typeof item === 'object' && item !== null && Object.hasOwn(item, 'prototype')) return `"constructor.prototype" at ${path}`;
    const found = forbiddenKey(item, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}
