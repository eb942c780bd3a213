import { z } from 'zod';
import { ERROR_CATALOGUE, httpStatusOf, type ApiErrorCode } from '../../errors';
import { RETRY_AFTER_S } from '../problem';
import type { Operation } from './operations';
import { problemAnswer } from './schemas';

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1). */
export type JsonSchema = Record<string, unknown>;

interface MediaTypes {
  [contentType: string]: { schema: JsonSchema };
}

/** A route's `schema` as Fastify keeps it: JSON Schemas made from the route's zod schemas, plus what OpenAPI needs. */
export interface RouteSchema {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema | { content: MediaTypes };
  response: Record<string, { description: string; headers?: Record<string, { description: string; schema: JsonSchema }>; content?: MediaTypes }>;
}

/** A route as the server registered it (Fastify's onRoute), with the schema attached to it. */
export interface RegisteredRoute {
  method: string;
  url: string;
  schema: RouteSchema | undefined;
  /** The route's config: `public` (no token) or `apiKey` (the token as ?api_key=). */
  access: 'token' | 'public' | 'api-key';
}

/**
 * JSON Schema of a zod schema. Shared parts (schemas with a `meta({id})`) become components,
 * referenced as `#/components/schemas/<id>`; requests are described as they come in (`io:
 * input`: defaults optional, before transforms), answers as they go out.
 */
export class SchemaConverter {
  readonly components: Record<string, JsonSchema> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const { $defs, ...root } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [id, definition] of Object.entries($defs ?? {})) {
      const clean = relink(definition) as JsonSchema;
      const known = this.components[id];
      if (known && JSON.stringify(known) !== JSON.stringify(clean)) throw new Error(`OpenAPI: schema ${id} is described two ways (used as request and answer?)`);
      this.components[id] = clean;
    }
    return relink(root) as JsonSchema;
  }
}

/** Drops `$schema` and moves `#/$defs/` references to the document's components. */
function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === '$schema') continue;
    out[key] = key === '$ref' && typeof item === 'string' ? item.replace(/^#\/\$defs\//, '#/components/schemas/') : relink(item);
  }
  return out;
}

/**
 * The Fastify route schema of an operation: its request schemas, its answers, and the error
 * answers of its codes and of those every route shares (token, Host guard, a request too slow
 * or with headers too large, 500; 503 where it uses Redis; the origin guard on writes), grouped
 * by HTTP status. Every error answer is the one Problem schema; its description names the
 * codes (so the responses are not shared components: each one's description is its own).
 */
export function routeSchema(operation: Operation, access: RegisteredRoute['access'], method: string, converter: SchemaConverter): RouteSchema {
  const response: RouteSchema['response'] = {};
  for (const [status, answer] of Object.entries(operation.answers)) {
    response[status] = {
      description: answer.description,
      ...(answer.content ? { content: mapValues(answer.content, (schema) => ({ schema: converter.convert(schema, 'output') })) } : {}),
    };
  }
  const codes: ApiErrorCode[] = [...(operation.errors ?? []), 'CALLHOOK_FORBIDDEN_HOST', 'CALLHOOK_REQUEST_TIMEOUT', 'CALLHOOK_HEADERS_TOO_LARGE', 'CALLHOOK_INTERNAL'];
  if (access !== 'public') codes.push('CALLHOOK_UNAUTHORIZED');
  if (method !== 'GET' && method !== 'HEAD') codes.push('CALLHOOK_FORBIDDEN_ORIGIN');
  if (operation.redis) codes.push('CALLHOOK_UNAVAILABLE');
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of new Set(codes)) byStatus.set(httpStatusOf(code), [...(byStatus.get(httpStatusOf(code)) ?? []), code]);
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    if (response[status]) throw new Error(`OpenAPI: ${operation.operationId} answers ${status} both as an error and as ${response[status].description}`);
    response[status] = {
      description: group.map((code) => `\`${code}\`: ${ERROR_CATALOGUE[code].meaning}`).join('; '),
      ...(status === 503 ? { headers: { 'Retry-After': { description: `seconds to wait before retrying (${RETRY_AFTER_S})`, schema: { type: 'integer' } } } } : {}),
      content: { 'application/json': { schema: converter.convert(problemAnswer, 'output') } },
    };
  }
  const body = operation.body;
  return {
    operationId: operation.operationId,
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    tags: operation.tags,
    ...(operation.params ? { params: converter.convert(operation.params, 'input') } : {}),
    ...(operation.querystring ? { querystring: converter.convert(operation.querystring, 'input') } : {}),
    ...(body ? { body: 'contentType' in body ? { content: { [body.contentType]: { schema: converter.convert(body.schema, 'input') } } } : converter.convert(body, 'input') } : {}),
    response,
  };
}

export interface DocumentInfo {
  version: string;
}

/**
 * The OpenAPI 3.1 document of the routes the server registered, from the schemas attached to
 * them. A HEAD route Fastify derived from a GET (it answers the GET's headers without a body) is
 * described by that GET.
 */
export function openApiDocument(routes: readonly RegisteredRoute[], components: Record<string, JsonSchema>, info: DocumentInfo): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url));
  for (const route of routes) {
    if (!route.schema && route.method === 'HEAD' && gets.has(route.url)) continue;
    // A route added without an entry in operations.ts is still listed (the OpenAPI test fails on it).
    const { params, querystring, body, response, ...described } = route.schema ?? { summary: 'Not described yet', tags: [], response: { default: { description: 'Not described yet' } } };
    const parameters = [...parametersOf(params, 'path'), ...parametersOf(querystring, 'query')];
    const path = route.url.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      ...described,
      ...(route.access === 'public' ? { security: [] } : route.access === 'api-key' ? { security: [{ curriApiKey: [] }] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(body ? { requestBody: { required: true, content: 'content' in body ? body.content : { 'application/json': { schema: body } } } } : {}),
      responses: response,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'callhook',
      version: info.version,
      summary: 'Webhook apps for every call that ends on a Cisco CUCM cluster',
      description:
        'Producers queue completed-call events; workers run each call\'s policy: its webhook apps, in order, with retries, each result stored. ' +
        'Errors answer `{"error": {"code", "message", "problems"?}}` (README, Error codes), those refused before any route runs too (400 not HTTP, 408 too slow, 431 headers too large; the connection is then closed). ' +
        'When `CALLHOOK_API_TOKEN` is set every route needs `Authorization: Bearer <token>` except those marked without security (health, readiness, metrics, the console and these docs\' static files) and `/curri`, which takes it as `?api_key=`; ' +
        'without a token the API only listens on loopback and only answers loopback `Host` names.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'calls', description: 'Queue calls, read them, replay them' },
      { name: 'results', description: 'The results feed, for downstream apps' },
      { name: 'real-time', description: 'Apps that run inside the request: real-time apps and Call Test' },
      { name: 'cucm', description: 'CUCM External Call Control (CURRI)' },
      { name: 'console', description: 'The web console and what it reads' },
      { name: 'operations', description: 'Health, readiness, metrics, this description' },
    ],
    // What OpenAPI assumes when there is none: the API is where this document is served.
    servers: [{ url: '/', description: 'the server that serves this document' }],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'CALLHOOK_API_TOKEN, when set' },
        curriApiKey: { type: 'apiKey', in: 'query', name: 'api_key', description: 'CALLHOOK_API_TOKEN, on /curri only' },
      },
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}

/** OpenAPI parameters from an object's JSON Schema: one per property. */
function parametersOf(schema: JsonSchema | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest };
  });
}

function mapValues<T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, f(value)]));
}
