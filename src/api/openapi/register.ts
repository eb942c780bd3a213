import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version';
import { openApiDocument, routeSchema, SchemaConverter, type RegisteredRoute } from './document';
import { OPERATIONS } from './operations';

/**
 * Attaches each route's documentation (api/openapi/operations.ts) to it as its Fastify `schema`
 * as it is registered, and answers the OpenAPI document of every route registered.
 *
 * Route schemas only document: the validator and serializer compilers are set so Fastify neither
 * validates nor reshapes anything with them. Validation stays the zod code each handler runs
 * today, from the same schemas the document is made of, so the two cannot disagree.
 */
export function documentRoutes(app: FastifyInstance): { routes: readonly RegisteredRoute[]; document: () => unknown } {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  const converter = new SchemaConverter();
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const access = route.config?.public === true ? 'public' : route.config?.apiKey === true ? 'api-key' : 'token';
    for (const method of [route.method].flat()) {
      const operation = OPERATIONS[`${method} ${route.url}`];
      const schema = operation ? routeSchema(operation, access, method, converter) : undefined;
      if (schema) route.schema = schema as unknown as typeof route.schema;
      routes.push({ method, url: route.url, schema, access });
    }
  });
  let document: unknown;
  return { routes, document: () => (document ??= openApiDocument(routes, converter.components, { version: VERSION })) };
}
