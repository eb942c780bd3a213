import { gzipSync } from 'node:zlib';
import { parseConfig } from '../../src/policies/load';
import type { WebhookApp } from '../../src/policies/types';
import { closeHttpClient, createHttpClient } from '../../src/webhook/http-client';
import { OAuthTokenCache } from '../../src/webhook/oauth';
import { QUEUED, runApps } from '../../src/pipeline/runner';
import { Redactor } from '../../src/util/redact';
import { HttpSender } from '../../src/webhook/send';
import { makeEvent } from '../helpers/events';
import { startOAuthServer } from '../helpers/oauth-server';
import { Receiver } from '../helpers/receiver';

describe('requests as the receiver sees them', () => {
  let receiver: Receiver;
  let oauth: Awaited<ReturnType<typeof startOAuthServer>>;
  let deps: { http: ReturnType<typeof createHttpClient>; tokens: OAuthTokenCache; sender: HttpSender };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    oauth = await startOAuthServer({ clientId: 'callhook-client', clientSecret: 'oauth-client-secret-value' });
  });
  afterAll(async () => {
    await receiver.stop();
    await oauth.stop();
  });
  beforeEach(() => {
    const http = createHttpClient();
    const tokens = new OAuthTokenCache(http);
    deps = { http, tokens, sender: new HttpSender(http, tokens) };
    receiver.requests.length = 0;
  });
  afterEach(() => closeHttpClient(deps.http));

  const appWith = (auth: string, extra = ''): WebhookApp => {
    const config = parseConfig(`
policies:
  - id: p
    apps:
      - name: Hook
        method: POST
        url: "${receiver.url}/hook"
        auth: ${auth}
        body: { n: "{{ event.calling_number }}" }
${extra}`);
    const app = config.policies[0]?.apps[0];
    if (!app) throw new Error('no app');
    return app;
  };
  const scope = (event = makeEvent()) => ({ event, app_data: {} });

  it('auth none: default headers and no Authorization', async () => {
    const event = makeEvent({ call_id: 'call-1' });
    const report = await deps.sender.attempt(appWith('{ type: none }'), event.call_id, scope(event));
    expect(report.httpStatus).toBe(200);
    const [request] = receiver.requests;
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['user-agent']).toMatch(/^callhook\/\d+\.\d+\.\d+$/);
    expect(request?.headers['idempotency-key']).toBe('call-1.hook');
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.json).toEqual({ n: event.calling_number });
  });

  it('auth basic', async () => {
    await deps.sender.attempt(appWith('{ type: basic, username: "ops", password: "p@ss:wörd" }'), 'c', scope());
    const header = receiver.requests[0]?.headers.authorization ?? '';
    expect(header.startsWith('Basic ')).toBe(true);
    expect(Buffer.from(header.slice(6), 'base64').toString('utf8')).toBe('ops:p@ss:wörd');
  });

  it('auth bearer', async () => {
    await deps.sender.attempt(appWith('{ type: bearer, token: "tok-abc" }'), 'c', scope());
    expect(receiver.requests[0]?.headers.authorization).toBe('Bearer tok-abc');
  });

  const oauthApp = (clientAuth = 'basic', secret = 'oauth-client-secret-value') =>
    appWith(`{ type: oauth2, token_url: "${oauth.tokenUrl}", client_id: callhook-client, client_secret: "${secret}", scope: "crm.read", client_auth: ${clientAuth} }`);

  it('auth oauth2 (client credentials): the receiver gets a token the server issued', async () => {
    const before = oauth.tokenRequests.length;
    const report = await deps.sender.attempt(oauthApp(), 'c', scope());
    expect(report.httpStatus).toBe(200);
    const request = oauth.tokenRequests[before];
    expect(request).toMatchObject({ status: 200, grant_type: 'client_credentials', scope: 'crm.read', basic: true });
    expect(receiver.requests[0]?.headers.authorization).toBe(`Bearer ${request?.token}`);
  });

  it('oauth2 with client credentials in the form body', async () => {
    const before = oauth.tokenRequests.length;
    await deps.sender.attempt(oauthApp('body'), 'c', scope());
    expect(oauth.tokenRequests[before]).toMatchObject({ status: 200, basic: false });
  });

  it('50 concurrent calls share one token request', async () => {
    const before = oauth.tokenRequests.length;
    const app = oauthApp();
    const reports = await Promise.all(Array.from({ length: 50 }, (_, i) => deps.sender.attempt(app, `c${i}`, scope())));
    expect(reports.every((r) => r.httpStatus === 200)).toBe(true);
    expect(oauth.tokenRequests.length - before).toBe(1);
    expect(deps.tokens.fetches).toBe(1);
    expect(new Set(receiver.requests.map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('a 401 drops the cached token and the runner sends once more with a fresh one', async () => {
    const app = oauthApp();
    await deps.sender.attempt(app, 'warm', scope());
    const first = receiver.requests[0]?.headers.authorization;
    receiver.sequence('/hook', [{ status: 401 }, { status: 200, body: { ok: 1 } }]);
    const policy = { id: 'p', description: undefined, match: undefined, apps: [app], curri: undefined };
    const outcome = await runApps(policy, { event: makeEvent({ call_id: 'c' }), results: {}, pending: {} }, QUEUED, {
      sender: deps.sender,
      redactor: new Redactor([]),
      checkpoint: { saveResult: async () => undefined, savePending: async () => undefined, finish: async () => undefined },
    });
    receiver.on('/hook', () => ({ status: 200, body: { ok: true } }));
    expect(outcome).toMatchObject({ kind: 'finished', status: 'completed', runs: [{ result: { http_status: 200, attempts: 1 } }] });
    expect(deps.tokens.fetches).toBe(2);
    const [, rejected, retried] = receiver.requests;
    expect(rejected?.headers.authorization).toBe(first);
    expect(retried?.headers.authorization).not.toBe(first);
  });

  it('a 401 to a token fetched for the attempt is not answered with another; a replacement the receiver accepted may be replaced again', async () => {
    const app = oauthApp();
    const policy = { id: 'p', description: undefined, match: undefined, apps: [app], curri: undefined };
    const run = (callId: string) =>
      runApps(policy, { event: makeEvent({ call_id: callId }), results: {}, pending: {} }, QUEUED, {
        sender: deps.sender,
        redactor: new Redactor([]),
        checkpoint: { saveResult: async () => undefined, savePending: async () => undefined, finish: async () => undefined },
      });
    const sent = () => receiver.to('/hook').map((r) => r.headers.authorization);
    // Nothing cached: the token is fetched for this call, so its 401 is the receiver refusing the client.
    receiver.on('/hook', () => ({ status: 401 }));
    expect(await run('f1')).toMatchObject({ runs: [{ result: { status: 'failed', http_status: 401 } }] });
    expect([deps.tokens.fetches, sent().length]).toEqual([1, 1]);
    // Cached since, and accepted: revoked early, it is replaced once (T2), and T2 is taken.
    receiver.sequence('/hook', [{ status: 200 }, { status: 401 }, { status: 200 }]);
    await run('f2');
    expect(await run('f3')).toMatchObject({ runs: [{ result: { status: 'success' } }] });
    expect([deps.tokens.fetches, sent().length]).toEqual([2, 4]);
    // T2, accepted, revoked in turn: replaced again.
    receiver.sequence('/hook', [{ status: 401 }, { status: 200 }]);
    expect(await run('f4')).toMatchObject({ runs: [{ result: { status: 'success' } }] });
    expect(deps.tokens.fetches).toBe(3);
    // A replacement refused at once (T4): the calls after it are refused with it, fetching nothing more.
    receiver.on('/hook', () => ({ status: 401 }));
    for (const id of ['f5', 'f6', 'f7']) await run(id);
    expect(deps.tokens.fetches).toBe(4);
    const all = sent();
    expect(all).toHaveLength(10); // f5: its cached token, then the replacement; f6 and f7: the replacement, once each
    expect(all.slice(-3)).toEqual([all[7], all[7], all[7]]);
    expect(all[7]).not.toBe(all[6]);
    receiver.on('/hook', () => ({ status: 200, body: { ok: true } }));
  });

  it('a refused client secret fails the app with a clear error and is not retried', async () => {
    const report = await deps.sender.attempt(oauthApp('basic', 'wrong-secret'), 'c', scope());
    expect(report.outcome).toEqual({ kind: 'fatal', code: 'oauth' });
    expect(report.error).toEqual({ code: 'CALLHOOK_OAUTH_TOKEN', message: expect.stringContaining('HTTP 401') });
    expect(receiver.requests).toHaveLength(0);
  });

  it('a token endpoint slower than the app\'s timeout: nothing is sent, the attempt may be retried, and the token serves the next', async () => {
    receiver.on('/slow-token', async () => {
      await new Promise((r) => setTimeout(r, 600));
      return { status: 200, body: { access_token: 'slow-token-value', expires_in: 60 } };
    });
    const app = appWith(`{ type: oauth2, token_url: "${receiver.url}/slow-token", client_id: c, client_secret: slow-secret-1 }`);
    const started = Date.now();
    const late = await deps.sender.attempt(app, 'c', scope(), { deadlineAt: Date.now() + 200, budgetMs: 200 });
    expect(Date.now() - started).toBeLessThan(500);
    expect(late.outcome).toEqual({ kind: 'network', code: 'oauth' });
    expect(late.error).toEqual({ code: 'CALLHOOK_OAUTH_TOKEN', message: "no OAuth2 token within 200 ms (the app's timeout): the request was not sent" });
    await new Promise((r) => setTimeout(r, 600));
    const next = await deps.sender.attempt(app, 'c', scope(), { deadlineAt: Date.now() + 200, budgetMs: 200 });
    expect(next.httpStatus).toBe(200);
    expect(receiver.to('/hook').map((r) => r.headers.authorization)).toEqual(['Bearer slow-token-value']); // once: the late attempt sent nothing
  });

  it('a throttled token endpoint (429), or one answering a page that is not JSON, may be retried; a refused client may not', async () => {
    receiver.on('/throttled-token', () => ({ status: 429 }));
    receiver.on('/page-token', () => ({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html>maintenance</html>' }));
    for (const path of ['/throttled-token', '/page-token']) {
      const report = await deps.sender.attempt(appWith(`{ type: oauth2, token_url: "${receiver.url}${path}", client_id: c, client_secret: retry-secret-1 }`), 'c', scope());
      expect(report.outcome).toEqual({ kind: 'network', code: 'oauth' });
    }
    expect(receiver.to('/hook')).toHaveLength(0);
  });

  it('a token answer over 64 KiB, plain or a gzip bomb, fails the token request without being read whole', async () => {
    const huge = JSON.stringify({ access_token: 'tok-from-a-huge-answer', expires_in: 3600, pad: 'x'.repeat(8 * 1024 * 1024) });
    const bomb = gzipSync(huge);
    expect(bomb.length).toBeLessThan(64 * 1024); // small on the wire: only the limit after decompression stops it
    receiver.on('/huge-token', () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: huge }));
    receiver.on('/gzip-token', () => ({ status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: bomb }));
    for (const path of ['/huge-token', '/gzip-token']) {
      const report = await deps.sender.attempt(appWith(`{ type: oauth2, token_url: "${receiver.url}${path}", client_id: c, client_secret: big-secret-1 }`), 'c', scope());
      expect(report.error).toEqual({ code: 'CALLHOOK_OAUTH_TOKEN', message: `token endpoint ${receiver.url}${path} answered more than 65536 bytes` });
      expect(report.outcome).toEqual({ kind: 'network', code: 'oauth' });
    }
    expect(receiver.to('/hook')).toHaveLength(0);
    // A token answer under the limit, gzipped, is read as usual.
    receiver.on('/small-gzip-token', () => ({ status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ access_token: 'small-gzip-token', pad: 'x'.repeat(60_000) })) }));
    const ok = await deps.sender.attempt(appWith(`{ type: oauth2, token_url: "${receiver.url}/small-gzip-token", client_id: c, client_secret: big-secret-1 }`), 'c', scope());
    expect(ok.httpStatus).toBe(200);
    expect(receiver.to('/hook').map((r) => r.headers.authorization)).toEqual(['Bearer small-gzip-token']);
  });

  it('refreshes a token shortly before it expires', async () => {
    let now = Date.now();
    const short = await startOAuthServer({ expiresIn: 60 });
    const http = createHttpClient();
    const tokens = new OAuthTokenCache(http, () => now);
    const app = appWith(`{ type: oauth2, token_url: "${short.tokenUrl}", client_id: callhook-client, client_secret: oauth-client-secret-value }`);
    if (app.auth.type !== 'oauth2') throw new Error('expected oauth2');
    try {
      const first = await tokens.getToken(app.auth);
      now += 30_000;
      expect(await tokens.getToken(app.auth)).toBe(first);
      now += 25_000; // 55 s of 60: inside the refresh margin
      const second = await tokens.getToken(app.auth);
      expect(tokens.fetches).toBe(2);
      expect(short.issuedTokens()).toEqual([first, second]);
    } finally {
      closeHttpClient(http);
      await short.stop();
    }
  });
});
