import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/policies/load';
import { freePort } from '../helpers/ports';
import { startPrivateRedis } from '../helpers/private-redis';
import { exited, spawnCli } from '../helpers/processes';
import { startHarness } from '../helpers/harness';
import { startOAuthServer } from '../helpers/oauth-server';
import { rawRequest } from '../helpers/raw-http';
import { Receiver } from '../helpers/receiver';

// A token with characters JSON and URLs escape: a receiver may echo it as tok\u002F...
const TOKEN = 'tok/en+Secret=42';
const PASSWORD = 'basic-pass-4c5b6a';
const TENANT = 'tenant-7f3e9a1c';
const API_KEY = 'query-key-7a8b9c';
const UNICODE_SECRET = 'geheim-schlüssel-42';
const env = { CRM_TOKEN: TOKEN, LEGACY_PASSWORD: PASSWORD, TENANT, API_KEY, RECEIVER: '', CHANNEL: '#sales', SLACK_PATH: 'T000/B000/XXXXXXXXXXXX', UNICODE_SECRET };
const FORBIDDEN = [TOKEN, PASSWORD, TENANT, API_KEY, 'T000/B000/XXXXXXXXXXXX', Buffer.from(`ops:${PASSWORD}`).toString('base64'), encodeURIComponent(TOKEN), 'tok\\u002Fen', 'tok\\/en'];

// Credentials written in the policy file itself, not substituted from the environment.
const LITERAL = { bearer: 'literal-bearer-5e6f', header: 'literal-header-7a8b', cookie: 'literal-cookie-9c0d', password: 'literal-pass-1e2f' };
const LITERAL_FORMS = [...Object.values(LITERAL), Buffer.from(`ui-user:${LITERAL.password}`).toString('base64')];

/** Every forbidden value found in `text`. */
const leaks = (text: string) => FORBIDDEN.filter((secret) => text.includes(secret));

describe('secrets never reach results, Call Test output or logs', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  const logLines: string[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    const echo = (req: { headers: unknown; url: string; body: string }) => ({ you_sent: req.headers, url: req.url, body: req.body });
    // The token JSON-escaped as some serialisers write it: the raw text never contains it literally.
    receiver.on('/escaped', (req) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: `{"echo":"${String(req.headers.authorization).replace(/\//g, '\\u002F')}"}` }));
    receiver.on('/echo', (req) => ({ status: 200, body: echo(req) }));
    receiver.on('/echo-fail', (req) => ({ status: 500, body: echo(req) }));
    receiver.on('/status', (req) => ({ status: Number(new URL(req.url, 'http://x').searchParams.get('s')), body: { status: 'failed' } }));
    receiver.on('/echo-text', (req) => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: `auth was ${req.headers.authorization} at ${req.url}` }));
    const fullEnv = { ...env, RECEIVER: receiver.url };
    h = await startHarness(__filename, `
policies:
  - id: echoes
    apps:
      - { name: Escaped, url: "${receiver.url}/escaped", auth: { type: bearer, token: "\${CRM_TOKEN}" } }
      - { name: Echo, method: POST, url: "\${RECEIVER}/echo?key=\${API_KEY}", auth: { type: basic, username: ops, password: "\${LEGACY_PASSWORD}" }, body: { deep: { a: { b: { c: { d: { e: { f: { g: { h: { i: { j: "\${CRM_TOKEN}" } } } } } } } } } } } }
      - { name: Echo Fail, url: "${receiver.url}/echo-fail", retry_count: 0, query: { api_key: "\${API_KEY}" }, auth: { type: bearer, token: "\${CRM_TOKEN}" } }
      - { name: Echo Text, url: "${receiver.url}/echo-text", auth: { type: bearer, token: "\${CRM_TOKEN}" } }
      - { name: OAuth, url: "${receiver.url}/echo", retry_count: 0, auth: { type: oauth2, token_url: "http://127.0.0.1:9/\${TENANT}/token", client_id: c, client_secret: "\${LEGACY_PASSWORD}" } }
  - id: literals
    apps:
      - { name: Headers, url: "${receiver.url}/echo", retry_count: 0, headers: { Authorization: "Bearer ${LITERAL.bearer}", X-Auth-Token: "${LITERAL.header}", Cookie: "session=${LITERAL.cookie}" } }
      - { name: User Info, url: "${receiver.url.replace('http://', `http://ui-user:${LITERAL.password}@`)}/echo", retry_count: 0 }
  - id: named
    apps:
      - { name: Named, url: "${receiver.url}/echo?private_token=lit-query-tok-777&x=1", retry_count: 0, query: { access_token: "lit-q2-tok-999" }, headers: { PRIVATE-TOKEN: "lit-header-tok-555", X-Session-Id: "{{ event.calling_name }}" } }
      - { name: Unicode, url: "${receiver.url}/echo", retry_count: 0, headers: { X-Token: "\${UNICODE_SECRET}", X-Name: "{{ event.calling_name }}" } }
  - id: structure
    apps:
      - { name: First, url: "${receiver.url}/status", query: { s: "503", author: "{{ event.calling_name }}" }, retry_count: 1, retry_delay: 20ms, retry_jitter: 0, on_failure: stop }
      - { name: Second, url: "${receiver.url}/second", retry_count: 0 }
  - id: keys
    apps:
      - { name: Session, url: "${receiver.url}/echo", retry_count: 0, headers: { X-Session-Id: "{{ event.sid }}" } }
  - id: readable
    apps:
      - { name: Chat, method: POST, url: "\${RECEIVER}/services/\${SLACK_PATH}", headers: { X-Channel: "\${CHANNEL}", X-Api-Key: "\${API_KEY}" }, body: { channel: "\${CHANNEL}" } }
`, { env: fullEnv, logger: (config) => require('../../src/logger').createLogger({ level: 'debug', secrets: config.secrets, destination: { write: (line: string) => logLines.push(line) } }) });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it('queued: results, stored hash and logs hold no secret, however the receiver echoes it', async () => {
    const posted = await h.post({ calling_number: '1', called_number: '2', policy: 'echoes' });
    const callId = posted.body.calls[0]!.call_id;
    const record = await h.waitForCall(callId);
    expect(Object.keys(record.app_data)).toEqual(['escaped', 'echo', 'echo-fail', 'echo-text', 'oauth']);
    expect(record.app_data.escaped!.data).toEqual({ echo: 'Bearer [REDACTED]' });
    expect(record.app_data.oauth!.error!.message).toContain('/[REDACTED]/token');
    // The receivers really got the secrets (so the test would see a leak).
    expect(receiver.to('/escaped')[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const stored = await h.runtime.redis.hgetall(`${h.prefix}:call:${callId}`);
    expect(leaks(JSON.stringify(stored))).toEqual([]);
    expect(leaks(JSON.stringify(record))).toEqual([]);
    expect(leaks(logLines.join('\n'))).toEqual([]);
    expect(logLines.join('\n')).toContain('app failed');
  });

  it('Call Test: a secret nested 10 levels deep in a body, echoes and the URL are all redacted', async () => {
    for (const format of ['', '?format=text']) {
      const answer = await rawRequest(h.baseUrl, 'POST', `/v1/call-test${format}`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'echoes', calling_number: '1', called_number: '2' }) });
      expect(answer.status).toBe(200);
      expect(leaks(answer.text)).toEqual([]);
      expect(answer.text).toContain('[REDACTED]');
    }
    const json = (await h.request('POST', '/v1/call-test', { policy: 'echoes', calling_number: '1', called_number: '2' })).body;
    const echo = json.apps.find((a: { slug: string }) => a.slug === 'echo');
    expect(echo.request.body.deep.a.b.c.d.e.f.g.h.i.j).toBe('[REDACTED]');
    expect(echo.request.url).toBe(`${receiver.url}/echo?key=[REDACTED]`);
    expect(echo.request.headers.Authorization).toBe('[REDACTED]');
  });

  it('credentials written literally in the file (headers, user info in the URL) are hidden too, however the receiver echoes them', async () => {
    const posted = await h.post({ calling_number: '1', called_number: '2', policy: 'literals' });
    const record = await h.waitForCall(posted.body.calls[0]!.call_id);
    const callTest = await rawRequest(h.baseUrl, 'POST', '/v1/call-test', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'literals', calling_number: '1', called_number: '2' }) });
    // The receiver really got them, user info as the Basic header an HTTP client derives from it.
    const [headers, userInfo] = receiver.to('/echo').slice(-4);
    expect(headers!.headers['x-auth-token']).toBe(LITERAL.header);
    expect(userInfo!.headers.authorization).toBe(`Basic ${LITERAL_FORMS[4]}`);
    for (const text of [JSON.stringify(record), callTest.text, logLines.join('\n')]) expect(LITERAL_FORMS.filter((secret) => text.includes(secret))).toEqual([]);
    expect(record.app_data['user-info']!.request!.url).toBe(`${receiver.url.replace('http://', 'http://ui-user:[REDACTED]@')}/echo`);
    expect(record.app_data.headers!.data).toMatchObject({ you_sent: { authorization: 'Bearer [REDACTED]', 'x-auth-token': '[REDACTED]', cookie: '[REDACTED]' } });
  });

  it('any header or query parameter named like a credential is hidden, written literally or rendered; a non-ASCII secret too, however it is echoed', async () => {
    const event = { calling_number: '1', called_number: '2', policy: 'named', calling_name: 'sess-Zoë-4242' };
    const posted = await h.post(event);
    const record = await h.waitForCall(posted.body.calls[0]!.call_id);
    const callTest = await rawRequest(h.baseUrl, 'POST', '/v1/call-test', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    const secrets = ['lit-query-tok-777', 'lit-q2-tok-999', 'lit-header-tok-555', UNICODE_SECRET, Buffer.from(UNICODE_SECRET).toString('latin1')];
    // The receiver got them (the Unicode one as its UTF-8 bytes).
    expect(receiver.to('/echo').at(-1)!.headers['x-token']).toBe(Buffer.from(UNICODE_SECRET).toString('latin1'));
    for (const text of [JSON.stringify(record), callTest.text, logLines.join('\n')]) expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
    expect(record.app_data.named!.request!.url).toBe(`${receiver.url}/echo?private_token=[REDACTED]&x=1&access_token=[REDACTED]`);
    expect(record.app_data.named!.request!.headers).toMatchObject({ 'PRIVATE-TOKEN': '[REDACTED]', 'X-Session-Id': '[REDACTED]', 'Idempotency-Key': expect.stringMatching(/\.named$/) });
    expect(record.app_data.unicode!.request!.headers).toMatchObject({ 'X-Token': '[REDACTED]', 'X-Name': 'sess-Zoë-4242' }); // shown as text, not as its bytes
  });

  it('a credential rendered from call data hides free text only: never a result\'s status or keys, so decisions stand', async () => {
    // `author` is named like a credential, so the caller's name is this attempt's secret.
    const posted = await h.post({ calling_number: '1', called_number: '2', policy: 'structure', calling_name: 'failed' });
    const callId = posted.body.calls[0]!.call_id;
    const record = await h.waitForCall(callId);
    expect(record.status).toBe('failed');
    expect(record.app_data.first).toMatchObject({ status: 'failed', http_status: 503, attempts: 2, error: { code: 'CALLHOOK_HTTP_STATUS' }, data: { status: '[REDACTED]' } });
    expect(record.app_data.first!.attempts_log.map((entry) => entry.error?.code)).toEqual(['CALLHOOK_HTTP_STATUS', 'CALLHOOK_HTTP_STATUS']);
    expect(record.app_data.second!.status).toBe('skipped'); // on_failure: stop held
    expect(receiver.to('/second')).toEqual([]);
    expect((await h.request('POST', `/v1/calls/${callId}/replay`)).status).toBe(202);
    expect((await h.waitForCall(callId)).app_data.first!.status).toBe('failed');

    // A credential that is a key of the result: the keys stay, the echoed value is hidden.
    const keys = await h.post({ calling_number: '1', called_number: '2', policy: 'keys', sid: 'status' });
    const session = (await h.waitForCall(keys.body.calls[0]!.call_id)).app_data.session!;
    expect(Object.keys(session)).toEqual(['status', 'http_status', 'data', 'message', 'attempts', 'duration_ms', 'unresolved', 'error', 'attempts_log', 'request']);
    expect(Object.keys(session.attempts_log[0]!)).toEqual(['at', 'http_status', 'duration_ms', 'error', 'retry_in_ms']);
    expect(Object.keys(session.request!)).toEqual(['method', 'url', 'headers', 'body_bytes']);
    expect(session.status).toBe('success');
    expect(session.request!.headers['X-Session-Id']).toBe('[REDACTED]');
    expect((session.data as { you_sent: Record<string, string> }).you_sent['x-session-id']).toBe('[REDACTED]');
    const test = (await h.request('POST', '/v1/call-test', { policy: 'keys', calling_number: '1', called_number: '2', sid: 'status' })).body;
    expect(test.apps[0].result.status).toBe('success');
    expect(test.ok).toBe(true);
  });

  it('ordinary substitutions stay readable: a base URL, a channel name, an ordinary header', async () => {
    const json = (await h.request('POST', '/v1/call-test', { policy: 'readable', calling_number: '1', called_number: '2' })).body;
    const [chat] = json.apps;
    expect(chat.request.url).toBe(`${receiver.url}/services/[REDACTED]`); // a webhook path is its secret
    expect(chat.request.headers['X-Channel']).toBe('#sales');
    expect(chat.request.headers['X-Api-Key']).toBe('[REDACTED]');
    expect(chat.request.body).toEqual({ channel: '#sales' });
  });
});

describe('which substitutions are secrets', () => {
  const secretsOf = (app: string, environment: Record<string, string>) => parseConfig(`policies: [{ id: p, apps: [${app}] }]`, environment).secrets;

  it.each([
    ['a base URL', '{ name: A, url: "${BASE}/c" }', { BASE: 'https://crm.example.com' }, []],
    ['a base URL with a path', '{ name: A, url: "${BASE}/c" }', { BASE: 'https://crm.example.com/api' }, ['https://crm.example.com/api']],
    ['user info in a base URL', '{ name: A, url: "${BASE}/c" }', { BASE: 'https://u:p4ss@crm.example.com' }, ['https://u:p4ss@crm.example.com']],
    ['a URL path', '{ name: A, url: "https://hooks.example.com/${P}" }', { P: 'abcd/efgh' }, ['abcd/efgh']],
    ['a query value of a credential parameter', '{ name: A, url: "https://h.example.com/", query: { api_key: "${K}" } }', { K: 'k-1234' }, ['k-1234']],
    ['an ordinary query value', '{ name: A, url: "https://h.example.com/", query: { region: "${R}" } }', { R: 'eu-west' }, []],
    ['a credential header, list form', '{ name: A, url: "https://h.example.com/", headers: [{ key: X-Api-Key, value: "${K}" }] }', { K: 'k-1234' }, ['k-1234']],
    ['an ordinary header', '{ name: A, url: "https://h.example.com/", headers: { X-Tenant: "${T}" } }', { T: 'acme' }, []],
    ['a body field', '{ name: A, method: POST, url: "https://h.example.com/", body: { channel: "${C}" } }', { C: '#sales' }, []],
    ['a variable named like a secret, anywhere', '{ name: A, method: POST, url: "https://h.example.com/", body: { s: "${WEBHOOK_SECRET}" } }', { WEBHOOK_SECRET: 'whsec-1' }, ['whsec-1']],
    ['a bearer token', '{ name: A, url: "https://h.example.com/", auth: { type: bearer, token: "${T}" } }', { T: 'tok-1234' }, ['tok-1234']],
  ])('%s', (_what, app, environment, expected) => {
    expect(secretsOf(app, environment)).toEqual(expect.arrayContaining(expected));
    if (expected.length === 0) expect(secretsOf(app, environment)).toEqual([]);
  });

  it('a secret under 4 characters is a load error naming the field and variable', () => {
    let problems: string[] = [];
    try {
      parseConfig('policies: [{ id: p, apps: [{ name: A, url: "https://h.example.com/", auth: { type: bearer, token: "${T}" } }] }]', { T: 'abc' });
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual(['policies[0].apps[0].auth.token: a secret of fewer than 4 characters cannot be kept out of results and logs; use a longer one (${T})']);
  });
});

describe('REDIS_URL passwords are never printed', () => {
  it.each([['api'], ['worker'], ['ingest-cdr', '.'], ['replay', '--failed']])('callhook %s with an unreachable Redis', async (...args) => {
    const port = await freePort();
    const child = spawnCli(args, { REDIS_URL: `redis://user:s3cret-redis-pass@127.0.0.1:${port}`, CALLHOOK_CONFIG: 'config/policies.yaml' });
    expect(await exited(child)).toBe(1);
    expect(child.output()).toMatch(/no Redis answers at redis:\/\/user:\[REDACTED\]@127\.0\.0\.1:\d+/);
    expect(child.output()).not.toContain('s3cret-redis-pass');
  });
});

describe('a Redis that refuses the password in REDIS_URL', () => {
  it('is named as refusing, not as absent, and the password is not printed', async () => {
    const redis = await startPrivateRedis();
    try {
      await redis.client.acl('SETUSER', 'callhook', 'on', '>right-redis-pass', '~*', '+@all');
      const child = spawnCli(['worker'], { REDIS_URL: `redis://callhook:wrong-redis-pass@127.0.0.1:${redis.port}`, CALLHOOK_CONFIG: 'config/policies.yaml' });
      expect(await exited(child)).toBe(1);
      expect(child.output()).toBe(
        `callhook: Redis at redis://callhook:[REDACTED]@127.0.0.1:${redis.port} refused callhook: WRONGPASS invalid username-password pair or user is disabled. (check the user and password in REDIS_URL)\n`,
      );
    } finally {
      await redis.stop();
    }
  });
});

describe('a receiver echoing its request body as text', () => {
  // A JSON body echoed in a JSON answer is JSON-escaped; a form body keeps URLSearchParams' encoding.
  const env = { DB_PASSWORD: 'Tr0ub4"dor\\&3', FORM_PASSWORD: 'p*ss w0rd~1' };
  const spelled = (secret: string) => [secret, JSON.stringify(secret).slice(1, -1), new URLSearchParams({ x: secret }).toString().slice(2)];
  const FORMS = [...spelled(env.DB_PASSWORD), ...spelled(env.FORM_PASSWORD)];

  it('cannot get a secret into the stored result or Call Test', async () => {
    const receiver = await new Receiver((req) => ({ status: 200, body: { echo: req.body } })).start();
    const h = await startHarness(__filename, `
policies:
  - id: p
    apps:
      - { name: Json, method: POST, url: "${receiver.url}/json", retry_count: 0, body: { user: bob, password: "\${DB_PASSWORD}" } }
      - { name: Form, method: POST, url: "${receiver.url}/form", retry_count: 0, body_format: form, body: { user: bob, password: "\${FORM_PASSWORD}" } }
`, { env });
    try {
      const posted = await h.post({ calling_number: '1', called_number: '2', policy: 'p' });
      const record = await h.waitForCall(posted.body.calls[0]!.call_id);
      const callTest = await rawRequest(h.baseUrl, 'POST', '/v1/call-test', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'p', calling_number: '1', called_number: '2' }) });
      // The receiver got them, and echoed them in those spellings.
      expect(receiver.to('/json')[0]!.body).toContain(FORMS[1]);
      expect(receiver.to('/form')[0]!.body).toBe(`user=bob&password=${FORMS[5]}`);
      expect(record.app_data.json!.data).toEqual({ echo: '{"user":"bob","password":"[REDACTED]"}' });
      expect(record.app_data.form!.data).toEqual({ echo: 'user=bob&password=[REDACTED]' });
      for (const text of [JSON.stringify(record), callTest.text]) expect(FORMS.filter((form) => text.includes(form))).toEqual([]);
    } finally {
      await h.stop();
      await receiver.stop();
    }
  });
});

describe('secrets that look like template syntax', () => {
  // A ${NAME} value is text: it was compiled as template source, so these were sent altered (or failed to load).
  const env = { API_KEY: 's3cr3t{{x', CRM_TOKEN: 'tok\\{{en-123', DB_PASSWORD: 'p@ss{{word}}x\\', HOOK_PATH: 'T0{{!B0}}' };

  it('are sent exactly as set', async () => {
    const receiver = await new Receiver().start();
    const h = await startHarness(__filename, `
policies:
  - id: p
    apps:
      - { name: A, method: POST, url: "${receiver.url}/hooks/\${HOOK_PATH}/{{ event.calling_number }}", retry_count: 0, headers: { X-Api-Key: "\${API_KEY}" }, query: { token: "\${CRM_TOKEN}" }, body: { pw: "\${DB_PASSWORD}", who: "{{ event.calling_number }}" } }
`, { env });
    try {
      const posted = await h.post({ calling_number: '1', called_number: '2', policy: 'p' });
      const record = await h.waitForCall(posted.body.calls[0]!.call_id);
      expect(record.app_data.a!.status).toBe('success');
      const [got] = receiver.requests;
      expect(got!.headers['x-api-key']).toBe(env.API_KEY);
      // The path as a URL parser writes it ({ and } percent-encoded), the query value encoded by callhook.
      expect(got!.url).toBe(`${new URL(`/hooks/${env.HOOK_PATH}/1`, receiver.url).pathname}?token=${encodeURIComponent(env.CRM_TOKEN)}`);
      expect(got!.json).toEqual({ pw: env.DB_PASSWORD, who: '1' });
    } finally {
      await h.stop();
      await receiver.stop();
    }
  });
});

describe('OAuth token endpoint echoing the client secret', () => {
  it('is redacted from the stored error', async () => {
    const oauth = await startOAuthServer({ clientSecret: 'right-secret-value' });
    const receiver = await new Receiver().start();
    const h = await startHarness(__filename, `
policies: [{ id: p, apps: [{ name: A, url: "${receiver.url}/x", retry_count: 0, auth: { type: oauth2, token_url: "${oauth.tokenUrl}", client_id: callhook-client, client_secret: "\${OAUTH_SECRET}" } }] }]
`, { env: { OAUTH_SECRET: 'wrong-secret-value' } });
    try {
      const posted = await h.post({ calling_number: '1', called_number: '2', policy: 'p' });
      const record = await h.waitForCall(posted.body.calls[0]!.call_id);
      expect(record.app_data.a!.error!.code).toBe('CALLHOOK_OAUTH_TOKEN');
      expect(JSON.stringify(record)).not.toContain('wrong-secret-value');
    } finally {
      await h.stop();
      await receiver.stop();
      await oauth.stop();
    }
  });
});
