import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packageRoot } from '../../version';
import { contentSecurityPolicy, sendAsset } from '../static-assets';

/** Swagger UI's files, copied from swagger-ui-dist (a build-time dependency) by `npm run build`. */
const DOCS_DIR = join(packageRoot(), 'dist', 'docs');

/**
 * Swagger UI's own page would load its scripts inline and a validator badge from the internet;
 * this one loads only same-origin files. Its styles are set inline by the UI itself.
 */
const DOCS_CSP = contentSecurityPolicy({ inlineStyles: true });

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>callhook API</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"><p>Loading the callhook API description…</p></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

/**
 * Reads /openapi.json, with the API token when the API has one (asked once, kept for the browser
 * tab under the key the console uses), and renders it; "Try it out" requests carry the token too.
 */
const INIT = `(async () => {
  const KEY = 'callhook.token';
  const root = document.getElementById('swagger-ui');
  let token = sessionStorage.getItem(KEY);
  const load = () => fetch('/openapi.json', { headers: token ? { authorization: 'Bearer ' + token } : {} });
  let response = await load();
  while (response.status === 401) {
    token = window.prompt('This callhook API needs its token (CALLHOOK_API_TOKEN) to show its description:');
    if (!token) {
      root.textContent = 'The API token is needed to read the API description (/openapi.json).';
      return;
    }
    response = await load();
    if (response.ok) sessionStorage.setItem(KEY, token);
  }
  if (!response.ok) {
    root.textContent = 'Could not read /openapi.json: HTTP ' + response.status;
    return;
  }
  window.SwaggerUIBundle({
    spec: await response.json(),
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    requestInterceptor: (request) => {
      if (token) request.headers.Authorization = 'Bearer ' + token;
      return request;
    },
  });
})();
`;

/** Swagger UI's files (no CDN: the API runs where there is no internet). */
const ASSETS: Record<string, { file?: string; body?: string; type: string }> = {
  'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
  'init.js': { body: INIT, type: 'text/javascript; charset=utf-8' },
};

/**
 * `GET /openapi.json` (the API description: needs the token like every data route) and `GET
 * /docs` with its files (Swagger UI: static files that carry no data, public like the console's;
 * the page reads /openapi.json with the token).
 */
export function registerDocsRoutes(app: FastifyInstance, document: () => unknown): void {
  app.get('/openapi.json', async () => document());
  const config = { public: true };
  const files = new Map<string, Buffer>();
  const send = (reply: FastifyReply, type: string, body: string | Buffer) => sendAsset(reply, type, body, DOCS_CSP);
  app.get('/docs', { config }, (_request, reply) => send(reply, 'text/html; charset=utf-8', PAGE));
  app.get<{ Params: { file: string } }>('/docs/:file', { config }, (request, reply) => {
    const asset = Object.hasOwn(ASSETS, request.params.file) ? ASSETS[request.params.file] : undefined;
    if (!asset) return reply.code(404).type('text/plain').send('no such file');
    if (asset.body !== undefined) return send(reply, asset.type, asset.body);
    // Read on first use: 1.9 MB that an API nobody reads the docs of never holds.
    let body = files.get(asset.file!);
    if (!body) {
      const path = join(DOCS_DIR, asset.file!);
      if (!existsSync(path)) return reply.code(404).type('text/plain').send('the docs are not built: run npm run build');
      files.set(asset.file!, (body = readFileSync(path)));
    }
    return send(reply.header('cache-control', 'public, max-age=3600'), asset.type, body);
  });
}
