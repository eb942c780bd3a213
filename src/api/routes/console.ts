import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packageRoot } from '../../version';
import { contentSecurityPolicy, sendAsset } from '../static-assets';

/** The console's built assets (`npm run build` writes them from src/console/). */
const CONSOLE_DIR = join(packageRoot(), 'dist', 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

const CONSOLE_CSP = contentSecurityPolicy();

/**
 * The web console at `/`: static files read once at start, public (they carry no data: every
 * screen reads the API, with the token when one is set).
 */
export function registerConsoleRoutes(app: FastifyInstance): void {
  const files = new Map<string, { type: string; body: Buffer }>();
  if (existsSync(CONSOLE_DIR)) {
    for (const name of readdirSync(CONSOLE_DIR)) files.set(name, { type: TYPES[extname(name)] ?? 'application/octet-stream', body: readFileSync(join(CONSOLE_DIR, name)) });
  }
  // The page names its script and style sheet with their content's hash (`app.js?v=…`), so a
  // browser never runs an old script with a new page after an upgrade, and may keep them long.
  const page = files.get('index.html');
  if (page) {
    let html = page.body.toString('utf8');
    for (const name of ['app.js', 'app.css']) {
      const asset = files.get(name);
      if (asset) html = html.replace(`/console/${name}"`, `/console/${name}?v=${createHash('sha256').update(asset.body).digest('hex').slice(0, 12)}"`);
    }
    files.set('index.html', { ...page, body: Buffer.from(html) });
  }
  const built = files.has('index.html');
  /** `versioned`: asked for by its hash, so it never changes (anything else is checked each time). */
  const send = (reply: FastifyReply, name: string, versioned = false) => {
    const file = files.get(name);
    if (!file) return reply.code(404).type('text/plain').send(built ? 'no such file' : 'the console is not built: run npm run build');
    return sendAsset(reply.header('cache-control', versioned ? 'public, max-age=31536000, immutable' : 'no-cache'), file.type, file.body, CONSOLE_CSP);
  };
  const config = { public: true };
  app.get('/', { config }, (_request, reply) => send(reply, 'index.html'));
  app.get<{ Params: { file: string }; Querystring: { v?: string } }>('/console/:file', { config }, (request, reply) => send(reply, request.params.file, request.query.v !== undefined));
}
