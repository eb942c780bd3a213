import type { FastifyReply } from 'fastify';

/**
 * The Content-Security-Policy of the pages the API serves (the console, the API docs):
 * same-origin scripts, styles, images and requests only, no inline script, no CDN, no framing
 * (they run where there is no internet). Swagger UI sets styles inline, so the docs allow those.
 */
export function contentSecurityPolicy(options: { inlineStyles?: boolean } = {}): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    options.inlineStyles ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Sends a static asset with the page's policy and the headers every asset carries. */
export function sendAsset(reply: FastifyReply, type: string, body: string | Buffer, csp: string): FastifyReply {
  return reply.type(type).header('content-security-policy', csp).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').send(body);
}
