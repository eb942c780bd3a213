import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as TlsServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';

/** One request as the receiver saw it, raw: the URL exactly as sent, headers, body text. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
  json: unknown;
  at: number;
}

export interface Reply {
  status?: number;
  /** Text as is, a Buffer as its bytes (a gzip body), anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Destroy the socket instead of answering (a connection reset). */
  reset?: boolean;
  /** Never answer. */
  hang?: boolean;
}

export type Handler = (request: ReceivedRequest) => Reply | Promise<Reply>;

/**
 * A real HTTP server on 127.0.0.1, port 0, standing in for a CRM, a chat tool... It records
 * every request and answers from per-path handlers (default: 200 `{"ok":true}`).
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly handlers = new Map<string, Handler>();
  private readonly server: Server;
  private readonly sockets = new Set<import('node:net').Socket>();
  url = '';

  /** With `tls`, an HTTPS server (a private CA, a client certificate demanded...). */
  constructor(
    private fallback: Handler = () => ({ status: 200, body: { ok: true } }),
    private readonly tls?: TlsServerOptions,
  ) {
    const handle = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = tls ? createHttpsServer(tls, handle) : createServer(handle);
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Answers requests whose path (without query) is `path`. */
  on(path: string, handler: Handler): this {
    this.handlers.set(path, handler);
    return this;
  }

  /** Answers the first requests with `replies` in turn, then with the last one. */
  sequence(path: string, replies: Reply[]): this {
    let i = 0;
    return this.on(path, () => replies[Math.min(i++, replies.length - 1)] ?? {});
  }

  to(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.url.split('?')[0] === path);
  }

  async waitFor(count: number, path?: string, timeoutMs = 20_000): Promise<ReceivedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = path ? this.to(path) : this.requests;
      if (got.length >= count) return got;
      if (Date.now() > deadline) throw new Error(`receiver: expected ${count} requests${path ? ` to ${path}` : ''}, got ${got.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    const request: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body,
      json,
      at: Date.now(),
    };
    this.requests.push(request);
    const handler = this.handlers.get(request.url.split('?')[0] ?? '') ?? this.fallback;
    const reply = await handler(request);
    if (reply.hang) return;
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    if (reply.reset) {
      req.socket.destroy();
      return;
    }
    const payload = reply.body === undefined ? '' : typeof reply.body === 'string' || Buffer.isBuffer(reply.body) ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status ?? 200, {
      ...(typeof reply.body === 'object' ? { 'content-type': 'application/json' } : {}),
      ...reply.headers,
    });
    res.end(payload);
  }
}
