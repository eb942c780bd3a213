import { sameSecret } from '../../src/api/guard';
import { startHarness } from '../helpers/harness';
import { openSocket, rawRequest } from '../helpers/raw-http';
import { Receiver } from '../helpers/receiver';

const TOKEN = 'a3f9c2e871d04b6f95e2c7a1b8d3f0e4';
const EVENT = JSON.stringify({ calling_number: '+15551234567', called_number: '1000', policy: 'crm' });
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Spellings of one path that a router may decode or normalise differently from a prefix check. */
function spellings(path: string): string[] {
  const rest = path.slice('/v1'.length);
  return [
    `/%761${rest}`, `/v%31${rest}`, `/%76%31${rest}`, `/V1${rest}`, `//v1${rest}`, `/./v1${rest}`, `/x/../v1${rest}`,
    `/%2e/v1${rest}`, `/v1${rest}?`, `/v1${rest}#`, `/v1${rest}?x=1`, `/v1%2F${rest.slice(1)}`, `/v1${rest}/`, `/v1/${rest}`, path,
  ];
}

describe('API token: decided on the route that matched, deny by default', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `
policies:
  - id: crm
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/crm", auth: { type: bearer, token: "\${CRM_TOKEN}" } }
      - { name: Post, url: "${receiver.url}/post", auth: { type: bearer, token: "\${CRM_TOKEN}" } }
`, { apiToken: TOKEN, env: { CRM_TOKEN: 'crm-secret-token-123' } });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  const callKeys = async () => (await h.runtime.redis.keys(`${h.prefix}:call:*`)).length;

  it.each([
    ['POST', '/v1/calls', EVENT],
    ['GET', '/v1/calls/c-1', undefined],
    ['HEAD', '/v1/calls/c-1', undefined],
    ['POST', '/v1/calls/c-1/replay', undefined],
    ['POST', '/v1/realtime', EVENT],
    ['POST', '/v1/call-test', EVENT],
  ])('%s %s in every spelling without the token: 401, nothing queued, nothing sent', async (method, path, body) => {
    const keysBefore = await callKeys();
    for (const spelled of spellings(path)) {
      const answer = await rawRequest(h.baseUrl, method, spelled, { headers: body ? JSON_HEADERS : {}, body });
      if (answer.status !== 401) throw new Error(`${method} ${spelled} answered ${answer.status} ${answer.text}`);
      if (method !== 'HEAD') expect(answer.json.error.code).toBe('CALLHOOK_UNAUTHORIZED');
      const wrong = await rawRequest(h.baseUrl, method, spelled, { headers: { ...(body ? JSON_HEADERS : {}), authorization: `Bearer ${TOKEN.slice(1)}x` }, body });
      expect(wrong.status).toBe(401);
    }
    expect(receiver.requests).toHaveLength(0);
    expect(await callKeys()).toBe(keysBefore);
  });

  it('with the token, the same routes work', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const queued = await rawRequest(h.baseUrl, 'POST', '/v1/calls', { headers: { ...JSON_HEADERS, ...auth }, body: EVENT });
    expect(queued.status).toBe(202);
    const callId = queued.json.calls[0].call_id as string;
    expect((await rawRequest(h.baseUrl, 'GET', `/v1/calls/${callId}`, { headers: auth })).status).toBe(200);
    expect((await rawRequest(h.baseUrl, 'HEAD', `/v1/calls/${callId}`, { headers: auth })).status).toBe(200);
    // A decoded spelling of a real route is the same route, so it needs (and takes) the token.
    expect((await rawRequest(h.baseUrl, 'GET', `/%761/calls/${callId}`, { headers: auth })).status).toBe(200);
  });

  it('the Bearer scheme is case-insensitive; anything but the exact token after it is refused', async () => {
    const status = async (authorization: string) => (await rawRequest(h.baseUrl, 'GET', '/v1/calls?limit=1', { headers: { authorization } })).status;
    for (const scheme of ['bearer', 'BEARER', 'Bearer  ']) expect(await status(`${scheme} ${TOKEN}`)).toBe(200);
    for (const wrong of [`Basic ${TOKEN}`, `Bearer${TOKEN}`, `Bearer ${TOKEN} `.repeat(2).trim(), TOKEN, `Bearer ${TOKEN.toUpperCase()}`]) expect(await status(wrong)).toBe(401);
  });

  it('health, readiness and metrics stay public; an unknown route needs the token too', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/%68ealthz']) expect((await rawRequest(h.baseUrl, 'GET', path)).status).toBe(200);
    const unknown = await rawRequest(h.baseUrl, 'GET', '/admin');
    expect(unknown.status).toBe(401);
    const known = await rawRequest(h.baseUrl, 'GET', '/admin', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(known.status).toBe(404);
    expect(known.json.error.code).toBe('CALLHOOK_NOT_FOUND');
  });

  it('a path the router cannot match needs the token too, then names no call or route (404)', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const overlong = 'a'.repeat(1025);
    for (const [method, path, code] of [
      ['GET', `/v1/calls/${overlong}`, 'CALLHOOK_CALL_NOT_FOUND'],
      ['GET', '/v1/calls/%zz', 'CALLHOOK_CALL_NOT_FOUND'],
      ['GET', '/%76%31/calls/%zz', 'CALLHOOK_CALL_NOT_FOUND'],
      ['POST', '/v1/calls/%zz/replay', 'CALLHOOK_CALL_NOT_FOUND'],
      ['POST', `/v1/calls/${overlong}/replay`, 'CALLHOOK_CALL_NOT_FOUND'],
      ['GET', '/nope/%zz', 'CALLHOOK_NOT_FOUND'],
      ['DELETE', '/v1/calls/%zz', 'CALLHOOK_NOT_FOUND'],
    ] as const) {
      const refused = await rawRequest(h.baseUrl, method, path);
      expect([method, path, refused.status, refused.json.error.code]).toEqual([method, path, 401, 'CALLHOOK_UNAUTHORIZED']);
      const answered = await rawRequest(h.baseUrl, method, path, { headers: auth });
      expect([method, path, answered.status, answered.json.error.code]).toEqual([method, path, 404, code]);
    }
    expect((await rawRequest(h.baseUrl, 'HEAD', '/v1/calls/%zz')).status).toBe(401);
    expect((await rawRequest(h.baseUrl, 'HEAD', '/v1/calls/%zz', { headers: auth })).status).toBe(404);
  });

  it('a token set means any Host is served (the token protects it)', async () => {
    const answer = await rawRequest(h.baseUrl, 'GET', '/healthz', { headers: { host: 'callhook.internal.example:8080' } });
    expect(answer.status).toBe(200);
  });
});

describe('the token comparison', () => {
  it('is equal only for the exact token, whatever the length presented', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    for (const given of [undefined, '', TOKEN.slice(0, -1), `${TOKEN}0`, TOKEN.toUpperCase(), `${TOKEN.slice(0, -1)}5`]) expect(sameSecret(given, TOKEN)).toBe(false);
  });
});

describe('without a token: loopback Host names only (DNS rebinding)', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    h = await startHarness(__filename, 'policies: []', { worker: false });
  });
  afterAll(() => h.stop());

  it.each(['attacker.example', 'attacker.example:8080', 'localhost.attacker.example', '127.0.0.1.nip.io', '0.0.0.0', '10.0.0.5'])('Host %s → 403', async (host) => {
    for (const path of ['/v1/calls/x', '/healthz', '/v1/calls/%zz']) {
      const answer = await rawRequest(h.baseUrl, 'GET', path, { headers: { host } });
      expect(answer.status).toBe(403);
      expect(answer.json.error.code).toBe('CALLHOOK_FORBIDDEN_HOST');
    }
  });

  it.each(['localhost', 'LOCALHOST:8080', '127.0.0.1:8080', '127.0.0.1', '[::1]:8080', 'localhost.'])('Host %s is served', async (host) => {
    expect((await rawRequest(h.baseUrl, 'GET', '/healthz', { headers: { host } })).status).toBe(200);
  });

  // What a browser sends unasked from a page on another local port or a file:// page: a text/plain
  // CURRI request (no preflight) and a bodiless replay.
  const CURRI = '<Request><Subject><Attribute AttributeId="urn:Cisco:uc:1.0:callednumber"><AttributeValue>1000</AttributeValue></Attribute></Subject></Request>';
  it.each([
    [{ origin: 'http://localhost:9999' }],
    [{ origin: 'null' }],
    [{ origin: 'http://attacker.example' }],
    [{ 'sec-fetch-site': 'cross-site' }],
    [{ 'sec-fetch-site': 'same-site' }],
  ])('a write from a page of another origin (%j) → 403', async (headers) => {
    for (const [path, body] of [['/curri', CURRI], ['/v1/calls/c1/replay', undefined], ['/v1/calls', EVENT]] as const) {
      const answer = await rawRequest(h.baseUrl, 'POST', path, { headers: { 'content-type': 'text/plain', ...headers }, body });
      expect([path, answer.status, answer.json.error.code]).toEqual([path, 403, 'CALLHOOK_FORBIDDEN_ORIGIN']);
    }
  });

  it('the API\'s own pages (the console), other clients and reads from other origins are served', async () => {
    const own = `http://${new URL(h.baseUrl).host}`;
    for (const headers of [{ origin: own }, { origin: own, 'sec-fetch-site': 'same-origin' }, {}, { 'sec-fetch-site': 'none' }] as Record<string, string>[]) {
      const answer = await rawRequest(h.baseUrl, 'POST', '/v1/calls/c1/replay', { headers });
      expect([headers, answer.status]).toEqual([headers, 404]); // no such call: past the guard
    }
    expect((await rawRequest(h.baseUrl, 'GET', '/healthz', { headers: { origin: 'http://localhost:9999', 'sec-fetch-site': 'cross-site' } })).status).toBe(200);
  });
});

describe('input limits and odd requests', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `
policies:
  - id: crm
    apps:
      - { name: Lookup, url: "${receiver.url}/crm", retry_count: 0 }
  - id: big
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/big" }
`);
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it('a call id of 101-200 characters can be queued, read and replayed', async () => {
    for (const length of [101, 150, 200]) {
      const callId = `c${'x'.repeat(length - 1)}`;
      const posted = await h.post({ call_id: callId, calling_number: '1', called_number: '2', policy: 'crm' });
      expect(posted.status).toBe(202);
      const record = await h.waitForCall(callId);
      expect(record.call_id).toBe(callId);
      const replay = await rawRequest(h.baseUrl, 'POST', `/v1/calls/${callId}/replay`);
      expect(replay.status).toBe(409); // completed, nothing to replay: a real answer, not a router error
      expect(replay.json.error.code).toBe('CALLHOOK_REPLAY_CONFLICT');
    }
    const tooLong = await rawRequest(h.baseUrl, 'GET', `/v1/calls/c${'x'.repeat(600)}`);
    expect(tooLong.status).toBe(404);
    expect(tooLong.json.error.code).toBe('CALLHOOK_CALL_NOT_FOUND');
  });

  it('call ids that once mapped to one BullMQ job (777, n777) are two calls, each run', async () => {
    const base = String(Date.now());
    const ids = [`n${base}`, base, `nn${base}`];
    const posted = await h.post(ids.map((call_id) => ({ call_id, calling_number: '1', called_number: '2', policy: 'crm' })));
    expect(posted.body.calls.map((c: { status: string }) => c.status)).toEqual(['queued', 'queued', 'queued']);
    for (const id of ids) expect((await h.waitForCall(id)).status).toBe('completed');
  });

  it('JSON nested 60,000 deep is a 400, not a stack overflow', async () => {
    const deep = `${'['.repeat(60_000)}${']'.repeat(60_000)}`;
    for (const body of [deep, `{"calling_number":"1","called_number":"2","app_data":{"x":${deep}}}`]) {
      for (const path of ['/v1/calls', '/v1/realtime', '/v1/call-test']) {
        const answer = await rawRequest(h.baseUrl, 'POST', path, { headers: JSON_HEADERS, body });
        expect([answer.status, answer.json.error.code]).toEqual([400, 'CALLHOOK_BAD_REQUEST']);
      }
    }
    // A string full of brackets is not nesting.
    const bracketsInAString = JSON.stringify({ calling_number: '1', called_number: '2', policy: 'crm', note: '['.repeat(1000) });
    expect((await rawRequest(h.baseUrl, 'POST', '/v1/calls', { headers: JSON_HEADERS, body: bracketsInAString })).status).toBe(202);
  });

  it('a body that is not JSON, or has a key that could poison a prototype, is a 400 that says which', async () => {
    const cases: [string, RegExp][] = [
      ['{"calling_number":"1",', /^the body is not valid JSON: /],
      ['{"calling_number":"1","called_number":"2","__proto__":"x"}', /^the JSON body has the key "__proto__" at \$, which callhook refuses/],
      ['{"calling_number":"1","called_number":"2","app_data":{"crm":[{"constructor":{"prototype":{"admin":true}}}]}}', /the key "constructor.prototype" at \$\.app_data\.crm\[0\],/],
    ];
    for (const [body, message] of cases) {
      for (const path of ['/v1/calls', '/v1/realtime', '/v1/call-test']) {
        const answer = await rawRequest(h.baseUrl, 'POST', path, { headers: JSON_HEADERS, body });
        expect([path, answer.status, answer.json.error.code]).toEqual([path, 400, 'CALLHOOK_BAD_REQUEST']);
        expect(answer.json.error.message).toMatch(message);
      }
    }
    // Spelled with \u escapes, which JSON.parse decodes into the same keys.
    const escaped: [string, RegExp][] = [
      ['{"obj":{"\\u005f_proto__":{"p":1}}}', /the key "__proto__" at \$\.app_data\.obj,/],
      ['{"obj":{"\\u005F\\u005Fproto\\u005f\\u005f":{"p":1}}}', /the key "__proto__" at \$\.app_data\.obj,/],
      ['{"obj":{"__pr\\u006fto__":{"p":1}}}', /the key "__proto__" at \$\.app_data\.obj,/],
      ['{"obj":{"\\u0063onstructor":{"prototype":{"admin":true}}}}', /the key "constructor.prototype" at \$\.app_data\.obj,/],
      ['{"obj":{"c\\u006Fnstructor":{"\\u0070rototype":{"admin":true}}}}', /the key "constructor.prototype" at \$\.app_data\.obj,/],
      ['{"obj":{"constructor":{"prot\\u006ftype":{"admin":true}}}}', /the key "constructor.prototype" at \$\.app_data\.obj,/],
    ];
    for (const [appData, message] of escaped) {
      const body = `{"calling_number":"1","called_number":"2","policy":"crm","app_data":${appData}}`;
      expect(Object.keys(Object.values((JSON.parse(body) as { app_data: Record<string, object> }).app_data)[0]!)[0]).toMatch(/^(__proto__|constructor)$/);
      for (const path of ['/v1/calls', '/v1/realtime', '/v1/call-test']) {
        const answer = await rawRequest(h.baseUrl, 'POST', path, { headers: JSON_HEADERS, body });
        expect([path, answer.status, answer.json.error.code]).toEqual([path, 400, 'CALLHOOK_BAD_REQUEST']);
        expect(answer.json.error.message).toMatch(message);
      }
    }
    // Escapes alone are call data like any other.
    const accents = '{"calling_number":"1","called_number":"2","policy":"crm","calling_name":"Zo\\u00eb"}';
    expect((await rawRequest(h.baseUrl, 'POST', '/v1/calls', { headers: JSON_HEADERS, body: accents })).status).toBe(202);
    // The words alone are call data like any other.
    const words = JSON.stringify({ calling_number: '1', called_number: '2', policy: 'crm', calling_name: '__proto__ constructor', app_data: { constructor: 'x' } });
    expect((await rawRequest(h.baseUrl, 'POST', '/v1/calls', { headers: JSON_HEADERS, body: words })).status).toBe(202);
  });

  it('real-time and Call Test take one event: a body over the single-event limit is a 413', async () => {
    const big = JSON.stringify({ calling_number: '1', called_number: '2', policy: 'big', pad: 'x'.repeat(300 * 1024) });
    for (const path of ['/v1/realtime', '/v1/call-test']) {
      const answer = await rawRequest(h.baseUrl, 'POST', path, { headers: JSON_HEADERS, body: big });
      expect([answer.status, answer.json.error.code]).toEqual([413, 'CALLHOOK_EVENT_TOO_LARGE']);
    }
    expect(receiver.to('/big')).toHaveLength(0);
  });

  it('a bodiless POST with Content-Type: application/json is accepted (replay as HTTP clients send it)', async () => {
    const posted = await h.post({ call_id: 'bodiless-1', calling_number: '1', called_number: '2', policy: 'crm' });
    expect(posted.status).toBe(202);
    await h.waitForCall('bodiless-1');
    const answer = await rawRequest(h.baseUrl, 'POST', '/v1/calls/bodiless-1/replay', { headers: { 'content-type': 'application/json', 'content-length': '0' } });
    expect(answer.status).toBe(409);
    expect(answer.json.error.code).toBe('CALLHOOK_REPLAY_CONFLICT');
  });

  it('Call Test always uses its own call id, never a real call\'s Idempotency-Key', async () => {
    receiver.requests.length = 0;
    const answer = await h.request('POST', '/v1/call-test', { policy: 'crm', call_id: 'c1', calling_number: '1', called_number: '2' });
    expect(answer.status).toBe(200);
    expect(answer.body.call_id).toMatch(/^call-test-/);
    const [sent] = await receiver.waitFor(1, '/crm');
    expect(sent!.headers['idempotency-key']).toBe(`${answer.body.call_id}.lookup`);
    expect(sent!.headers['idempotency-key']).not.toMatch(/^c1\./);
  });
});

describe('slow clients cannot hold sockets', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    h = await startHarness(__filename, 'policies: []', { worker: false, timeouts: { headersMs: 500, requestMs: 1000, keepAliveMs: 500 } });
  });
  afterAll(() => h.stop());

  /** What the server wrote on a raw socket before closing it: status line, headers, JSON body. */
  const answerOn = async (request: string) => {
    const socket = await openSocket(h.baseUrl);
    socket.write(request);
    const after = await socket.whenClosed;
    const [head = '', body = ''] = socket.received().split('\r\n\r\n');
    const [statusLine, ...headers] = head.split('\r\n');
    return { after, statusLine, headers: headers.map((line) => line.toLowerCase()), json: JSON.parse(body) };
  };

  it('headers that never finish: the socket is closed after the headers timeout', async () => {
    const answer = await answerOn('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    expect(answer.after).toBeLessThan(3000);
    expect(answer.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(answer.json).toEqual({ error: { code: 'CALLHOOK_REQUEST_TIMEOUT', message: 'the request did not arrive in time: its headers within 0.5 s, all of it within 1 s' } });
  });

  it('a body that never finishes: closed after the request timeout', async () => {
    const answer = await answerOn('POST /v1/calls HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"calling');
    expect(answer.after).toBeLessThan(4000);
    expect(answer.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(answer.json.error.code).toBe('CALLHOOK_REQUEST_TIMEOUT');
  });

  it('what the HTTP parser refuses answers in the API\'s error format, and the connection closes', async () => {
    const malformed = await answerOn('GET /v1/calls HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n');
    expect(malformed.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(malformed.json).toEqual({ error: { code: 'CALLHOOK_BAD_REQUEST', message: expect.stringMatching(/^the request is not well-formed HTTP/) } });
    expect(malformed.headers).toEqual(expect.arrayContaining(['connection: close', 'content-type: application/json; charset=utf-8']));
    const tooLarge = await answerOn(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expect(tooLarge.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(tooLarge.json).toEqual({ error: { code: 'CALLHOOK_HEADERS_TOO_LARGE', message: 'the request line and headers are over 16384 bytes' } });
  });

  it('the API description lists 408 and 431 for every route', async () => {
    const doc = (await h.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const operations = Object.values(doc.paths).flatMap((ops) => Object.values(ops));
    expect(operations.length).toBeGreaterThan(15);
    for (const operation of operations) expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['408', '431']));
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const socket = await openSocket(h.baseUrl);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const after = await socket.whenClosed;
    expect(socket.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(after).toBeLessThan(3000);
  });
});
