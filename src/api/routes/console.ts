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
  const send = (reply: FastifyReply, name: string) => {
    const file = files.get(name);
    if (!file) return reply.code(404).type('text/plain').send('the console is not built: run npm run build');
    return sendAsset(reply.header('cache-control', name === 'index.html' ? 'no-cache' : 'public, max-age=300'), file.type, file.body, CONSOLE_CSP);
  };
  const config = { public: true };
  app.get('/', { config }, (_request, reply) => send(reply, 'index.html'));
  app.get<{ Params: { file: string } }>('/console/:file', { config }, (request, reply) => send(reply, request.params.file));
}
