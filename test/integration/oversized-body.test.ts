import { Agent, request, type IncomingMessage } from 'node:http';
import { startHarness } from '../helpers/harness';
import { openSocket } from '../helpers/raw-http';

/**
 * A body declared over its route's limit: the API reads the rest of it, throws it away and
 * answers 413, so HTTP clients that send the whole body before reading the answer (Node's fetch
 * and http, Python's urllib: no `Expect: 100-continue`) get the 413, not EPIPE.
 */
const TOKEN = 'oversized-body-token-0123456789abcdef012';
const MiB = 1024 * 1024;

/** A POST with Node's http module, its body written in 64 KiB chunks as fast as the socket takes them. */
function postWithNodeHttp(baseUrl: string, path: string, bytes: number, agent: Agent | false): Promise<{ status: number; json: any; sent: number }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let sent = 0;
    const headers = { 'content-type': 'application/json', 'content-length': String(bytes), authorization: `Bearer ${TOKEN}` };
    const req = request({ host: hostname, port, method: 'POST', path, headers, agent }, (res: IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), sent }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const write = () => {
      while (sent < bytes) {
        const size = Math.min(chunk.length, bytes - sent);
        sent += size;
        if (!req.write(size === chunk.length ? chunk : chunk.subarray(0, size))) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

describe('a body over the limit is read to its end, then answered 413', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  const keepAlive = new Agent({ keepAlive: true });
  beforeAll(async () => {
    h = await startHarness(__filename, 'policies: []', { worker: false, apiToken: TOKEN });
  });
  afterAll(async () => {
    keepAlive.destroy();
    await h.stop();
  });

  it.each([
    ['Connection: close (as Python urllib sends it)', false],
    ['a keep-alive connection', keepAlive],
  ] as const)('Node http without Expect: 100-continue, %s: an 18 MiB batch gets the 413, not EPIPE', async (_name, agent) => {
    const answer = await postWithNodeHttp(h.baseUrl, '/v1/calls', 18 * MiB, agent);
    expect(answer).toEqual({
      status: 413,
      json: { error: { code: 'CALLHOOK_EVENT_TOO_LARGE', message: `the request body is ${18 * MiB} bytes; POST /v1/calls takes at most ${16 * MiB}: send less (a batch as smaller ones)` } },
      sent: 18 * MiB,
    });
  });

  it('the keep-alive connection serves the next request once the body is thrown away', async () => {
    await postWithNodeHttp(h.baseUrl, '/v1/calls', 17 * MiB, keepAlive);
    const next = await postWithNodeHttp(h.baseUrl, '/v1/calls', 2, keepAlive);
    expect([next.status, next.json.error.code]).toEqual([400, 'CALLHOOK_EVENT_INVALID']);
  });

  it('fetch gets the 413 too, for a batch and for a single event', async () => {
    for (const [path, bytes] of [['/v1/calls', 20 * MiB], ['/v1/realtime', 3 * MiB], ['/v1/call-test', 3 * MiB]] as const) {
      const response = await fetch(h.baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: ' '.repeat(bytes) });
      expect([path, response.status, ((await response.json()) as { error: { code: string } }).error.code]).toEqual([path, 413, 'CALLHOOK_EVENT_TOO_LARGE']);
    }
  });

  it('a body declared over 64 MiB is not read: answered at once, the connection closed', async () => {
    const socket = await openSocket(h.baseUrl);
    socket.write(`POST /v1/calls HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${64 * MiB + 1}\r\n\r\n[`);
    const after = await socket.whenClosed;
    expect(after).toBeLessThan(2000);
    expect(socket.received()).toMatch(/^HTTP\/1\.1 413 [^]*\r\nconnection: close\r\n[^]*CALLHOOK_EVENT_TOO_LARGE/i);
  });

  it('/curri still answers a body over its limit with its fail-open XML, not a 413', async () => {
    const response = await fetch(`${h.baseUrl}/curri?api_key=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: 'x'.repeat(MiB) });
    expect([response.status, response.headers.get('content-type')]).toEqual([200, 'text/xml; charset=utf-8']);
  });

  it('without the token: 401 first', async () => {
    const response = await fetch(`${h.baseUrl}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(17 * MiB) });
    expect(response.status).toBe(401);
  });
});

describe('a body over the limit that comes slowly', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    h = await startHarness(__filename, 'policies: []', { worker: false, timeouts: { headersMs: 500, requestMs: 1000, keepAliveMs: 500 } });
  });
  afterAll(() => h.stop());

  it('cannot hold the socket: it is closed after the request timeout, with a 408', async () => {
    const socket = await openSocket(h.baseUrl);
    socket.write(`POST /v1/calls HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${17 * MiB}\r\n\r\n[`);
    const trickle = setInterval(() => socket.write(' '), 100);
    const after = await socket.whenClosed;
    clearInterval(trickle);
    expect(after).toBeLessThan(3000);
    expect(socket.received()).toMatch(/^HTTP\/1\.1 408 [^]*CALLHOOK_REQUEST_TIMEOUT/);
  });
});
