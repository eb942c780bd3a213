import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the receiver answers one request (default 200 with `{"n": <sequence number>}`). */
export interface Answer {
  status?: number;
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Destroy the socket instead of answering (a connection reset). */
  reset?: boolean;
}

/** One request as received, and what became of the answer. */
export interface Delivery {
  /** Sequence number of the request at this receiver (1-based), echoed in the default answer. */
  n: number;
  key: string;
  path: string;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
  /** 1 for the first request with this key, 2 for the next... */
  attempt: number;
  arrivedAt: number;
  /** Status written, when an answer was written. */
  status?: number;
  /** When the whole answer was handed to the socket ('finish'). */
  answeredAt?: number;
  /** When the connection closed, if it did while the receiver was running. */
  closedAt?: number;
  /** The client went away (or the receiver reset the socket) before an answer was written. */
  aborted?: boolean;
}

/** Decides the answer to a request from its path, key and attempt number for that key. */
export type Plan = (d: Delivery) => Answer;

/**
 * A real HTTP server on 127.0.0.1:0 that keeps a ledger of every delivery by Idempotency-Key,
 * so a fault case can count, from the receiver's side, what callhook lost or sent twice. A key
 * "succeeded" once a 2xx answer to it was completely written; any later request with that key
 * is a re-send after success. The receiver can be paused (`hold`): requests arriving while held
 * wait unanswered until `release`, which lets a test crash a worker when no answer is in transit.
 */
export class LedgerReceiver {
  readonly deliveries: Delivery[] = [];
  readonly byKey = new Map<string, Delivery[]>();
  /** Keys whose 2xx answer had been fully written, and when. */
  readonly succeededAt = new Map<string, number>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** The latest request on each connection: the one a client closing the connection gave up on. */
  private readonly lastOnSocket = new WeakMap<Socket, Delivery>();
  private held: (() => void)[] = [];
  private holding = false;
  private answering = 0;
  private lastAnswerAt = 0;
  url = '';

  constructor(private plan: Plan = () => ({})) {
    // Hostile call data makes URLs and headers of hundreds of KiB: accept them, the point is
    // to see exactly what callhook sends.
    this.server = createServer({ maxHeaderSize: 8 * 1024 * 1024, keepAliveTimeout: 30_000 }, (req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        const last = this.lastOnSocket.get(socket);
        if (last) last.closedAt = Date.now();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  setPlan(plan: Plan): void {
    this.plan = plan;
  }

  /** Holds every new request unanswered until `release`. */
  hold(): void {
    this.holding = true;
  }

  /** Answers the held requests whose client is still there (a dead worker's are dropped). */
  release(): void {
    this.holding = false;
    const waiting = this.held;
    this.held = [];
    for (const go of waiting) go();
  }

  /** Requests waiting in `hold`. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Resolves once no answer is being written and none was for `quietMs`. */
  async quiet(quietMs = 300, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.answering > 0 || Date.now() - this.lastAnswerAt < quietMs) {
      if (Date.now() > deadline) throw new Error(`receiver: still answering ${this.answering} requests`);
      await sleep(20);
    }
  }

  /** Keys with a 2xx answer fully written. */
  succeeded(key: string): boolean {
    return this.succeededAt.has(key);
  }

  attempts(key: string): Delivery[] {
    return this.byKey.get(key) ?? [];
  }

  /**
   * Keys requested again after a 2xx answer to them was fully written and delivered: the
   * client kept the connection open afterwards (a keep-alive client that read the answer
   * does). Must be empty.
   */
  resentAfterSuccess(): string[] {
    return this.resent().filter(([, answer]) => !lostInTransit(answer)).map(([key]) => key);
  }

  /**
   * Keys requested again after a 2xx answer whose connection the client dropped within
   * LOST_WINDOW_MS of it being written: the client had given up (its timeout fired, or it
   * died) before reading it, so the repeat is at-least-once delivery, not a re-send of a success.
   */
  answersLostInTransit(): string[] {
    return this.resent().filter(([, answer]) => lostInTransit(answer)).map(([key]) => key);
  }

  /** Keys requested more than once although no 2xx had been delivered for them before the repeat. */
  duplicatesInFlight(): number {
    const resent = new Set(this.resentAfterSuccess());
    let n = 0;
    for (const [key, list] of this.byKey) if (list.length > 1 && !resent.has(key)) n += 1;
    return n;
  }

  /** Each key with a request that arrived after a 2xx answer to it, with that answer. */
  private resent(): [string, Delivery][] {
    const out: [string, Delivery][] = [];
    for (const [key, list] of this.byKey) {
      const answer = list.find((d) => d.answeredAt !== undefined && d.status !== undefined && d.status < 300);
      if (answer && list.some((d) => d.arrivedAt >= (answer.answeredAt ?? Infinity) && d !== answer)) out.push([key, answer]);
    }
    return out;
  }

  async stop(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedAt = Date.now();
    const chunks: Buffer[] = [];
    let aborted = false;
    let delivery: Delivery | undefined;
    req.on('aborted', () => (aborted = true));

    res.on('close', () => {
      if (!res.writableFinished && delivery) delivery.aborted = true;
    });
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      aborted = true;
    }
    const header = req.headers['idempotency-key'];
    const key = Array.isArray(header) ? (header[0] ?? '') : (header ?? '');
    const list = this.byKey.get(key) ?? [];
    const d: Delivery = {
      n: this.deliveries.length + 1,
      key,
      path: (req.url ?? '').split('?')[0] ?? '',
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks).toString('utf8'),
      attempt: list.length + 1,
      arrivedAt,
      ...(aborted ? { aborted: true } : {}),
    };
    delivery = d;
    this.lastOnSocket.set(req.socket, d);
    list.push(d);
    this.byKey.set(key, list);
    this.deliveries.push(d);
    if (aborted) return;

    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    if (aborted || req.socket.destroyed || !req.socket.writable) {
      d.aborted = true;
      return;
    }
    const answer = this.plan(d);
    this.answering += 1;
    try {
      if (answer.delayMs) await sleep(answer.delayMs);
      if (aborted || req.socket.destroyed || !req.socket.writable || answer.reset) {
        d.aborted = true;
        req.socket.destroy();
        return;
      }
      const status = answer.status ?? 200;
      const payload = JSON.stringify(answer.body ?? { n: d.n });
      d.status = status;
      await new Promise<void>((resolve) => {
        res.once('finish', () => {
          d.answeredAt = Date.now();
          if (status >= 200 && status < 300 && !this.succeededAt.has(key)) this.succeededAt.set(key, d.answeredAt);
          resolve();
        });
        res.once('close', () => resolve());
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(payload);
      });
    } finally {
      this.answering -= 1;
      this.lastAnswerAt = Date.now();
    }
  }
}

/** A connection closed this soon after a 2xx was written means the client never read it. */
const LOST_WINDOW_MS = 250;

function lostInTransit(answer: Delivery): boolean {
  return answer.closedAt !== undefined && answer.answeredAt !== undefined && answer.closedAt - answer.answeredAt < LOST_WINDOW_MS;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A deterministic pseudo-random number in [0, 1) for a string (FNV-1a then xorshift). */
export function hashUnit(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h << 13;
  h ^= h >>> 17;
  h ^= h << 5;
  return (h >>> 0) / 4294967296;
}
