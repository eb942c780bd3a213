import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { startOAuthServer } from '../helpers/oauth-server';
import { Receiver } from '../helpers/receiver';

/** Circuits and limits as a worker applies them to queued calls: real Redis, real receivers. */
describe('delivery controls in the worker', () => {
  it('a failing OAuth2 token endpoint does not open the circuit of the webhook destination', async () => {
    const idp = await new Receiver(() => ({ status: 503, body: 'idp down' })).start();
    const crm = await new Receiver().start();
    const h = await startHarness(__filename, `
policies:
  - id: oauth
    apps:
      - name: Crm OAuth
        method: POST
        url: "${crm.url}/oauth-app"
        retry_count: 0
        auth: { type: oauth2, token_url: "${idp.url}/token", client_id: cid, client_secret: "\${CLIENT_SECRET}" }
        circuit: { failures: 3, open_for: 1m }
  - id: plain
    apps:
      - { name: Crm Plain, method: POST, url: "${crm.url}/plain", retry_count: 0 }
`, { env: { CLIENT_SECRET: 'oauth-client-secret-value' }, concurrency: 1 });
    try {
      for (const id of ['oa-1', 'oa-2', 'oa-3']) {
        await h.post(makeEvent({ call_id: id, policy: 'oauth' }));
        expect((await h.waitForCall(id)).app_data['crm-oauth']).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_OAUTH_TOKEN' } });
      }
      expect(idp.requests.length).toBeGreaterThanOrEqual(3);
      expect((await h.request('GET', '/v1/stats')).body.circuits).toEqual([]);
      await h.post(makeEvent({ call_id: 'plain-1', policy: 'plain' }));
      expect((await h.waitForCall('plain-1', 5000)).app_data['crm-plain']).toMatchObject({ status: 'success' });
    } finally {
      await h.stop();
      await idp.stop();
      await crm.stop();
    }
  });

  it('calls waiting for an open circuit go one probe at a time after their worker restarts', async () => {
    let slow = false;
    const receiver = await new Receiver(() => ({ status: 503, body: 'down', delayMs: slow ? 1000 : 0 })).start();
    const yaml = `
policies:
  - id: default
    apps:
      - { name: Ticket, method: POST, url: "${receiver.url}/t", retry_count: 3, retry_delay: 100ms, circuit: { failures: 1, open_for: 2s, max_wait: 1h } }
`;
    const a = await startHarness(__filename, yaml);
    let b: Awaited<ReturnType<typeof startHarness>> | undefined;
    try {
      await a.post(makeEvent({ call_id: 'pr-open' }));
      await receiver.waitFor(1, '/t');
      await a.post(Array.from({ length: 10 }, (_, i) => makeEvent({ call_id: `pr-${i}` })));
      await new Promise((r) => setTimeout(r, 300)); // all waiting as delayed jobs
      const [circuit] = (await a.request('GET', '/v1/stats')).body.circuits;
      const openUntil = Date.parse(circuit.open_until);
      const before = receiver.requests.length;
      // The worker stops; a new process, which has seen nothing fail, takes the calls over.
      await a.worker!.close();
      slow = true; // the probe is still out while the others wake
      b = await startHarness(__filename, yaml, { prefix: a.prefix });
      await new Promise((r) => setTimeout(r, openUntil - Date.now() + 800));
      const sent = receiver.requests.slice(before).filter((r) => r.at < openUntil + 800);
      expect(sent.map((r) => r.headers['idempotency-key'])).toHaveLength(1);
    } finally {
      await b?.stop();
      await a.stop();
      await receiver.stop();
    }
  });

  it('circuit.max_wait counts from the first wait until the app has a result, not anew at each retry', async () => {
    const receiver = await new Receiver(() => ({ status: 503, body: 'down' })).start();
    const h = await startHarness(__filename, `
policies:
  - id: default
    apps:
      - { name: Ticket, method: POST, url: "${receiver.url}/t", retry_count: 3, retry_delay: 100ms, retry_jitter: 0, circuit: { failures: 1, open_for: 1500ms, max_wait: 1500ms } }
`);
    try {
      await h.post([makeEvent({ call_id: 'mw-0' }), makeEvent({ call_id: 'mw-1' })]);
      const record = await h.waitForCall('mw-1');
      expect(record.app_data.ticket).toMatchObject({ status: 'failed', attempts: 4 });
      const sends = receiver.requests.filter((r) => r.headers['idempotency-key'] === 'mw-1.ticket').map((r) => r.at);
      // Sent, then held up to 1.5 s, then sent anyway with its retries 200 and 400 ms apart: about
      // 2.2 s. A wait started anew at each retry took 1.5 s more per retry (about 5 s).
      expect(sends).toHaveLength(4);
      expect(sends[3]! - sends[0]!).toBeLessThan(3200);
    } finally {
      await h.stop();
      await receiver.stop();
    }
  });

  it('a call held for one app\'s circuit holds the apps after it only as long as that app\'s own retries could have (the default max_wait)', async () => {
    const crm = await new Receiver(() => ({ status: 503, body: 'down' })).start();
    const chat = await new Receiver().start();
    const h = await startHarness(__filename, `
policies:
  - id: default
    apps:
      - { name: Crm, method: POST, url: "${crm.url}/crm", timeout: 1s, retry_count: 0, circuit: { failures: 1, open_for: 1h } }
      - { name: Chat, method: POST, url: "${chat.url}/chat" }
`);
    try {
      await h.post(makeEvent({ call_id: 'hol-0' }));
      expect((await h.waitForCall('hol-0')).status).toBe('partial'); // its 503 opened the CRM's circuit for an hour
      const posted = Date.now();
      await h.post(makeEvent({ call_id: 'hol-1' }));
      // The CRM app's retries take at most its 1 s timeout: held that long, then sent anyway (and
      // failed), and the chat app after it goes. Before, it waited max_wait's old default, an hour.
      const record = await h.waitForCall('hol-1', 10_000);
      expect(Date.now() - posted).toBeLessThan(5000);
      expect(record.app_data.crm).toMatchObject({ status: 'failed', http_status: 503, attempts: 1 });
      expect(record.app_data.chat).toMatchObject({ status: 'success' });
      expect(chat.to('/chat').map((r) => r.headers['idempotency-key'])).toEqual(['hol-0.chat', 'hol-1.chat']);
    } finally {
      await h.stop();
      await crm.stop();
      await chat.stop();
    }
  });

  it('rate_limit holds when the OAuth2 token comes late: the slot is taken once the token is there', async () => {
    const oauth = await startOAuthServer({ clientId: 'callhook-client', clientSecret: 'oauth-client-secret-value', delayMs: 2000 });
    const receiver = await new Receiver().start();
    const h = await startHarness(__filename, `
policies:
  - id: default
    apps:
      - name: Chat
        method: POST
        url: "${receiver.url}/chat"
        rate_limit: 2/s
        auth: { type: oauth2, token_url: "${oauth.tokenUrl}", client_id: callhook-client, client_secret: "\${CLIENT_SECRET}" }
`, { env: { CLIENT_SECRET: 'oauth-client-secret-value' } });
    try {
      await h.post(Array.from({ length: 8 }, (_, i) => makeEvent({ call_id: `ob-${i}` })));
      const times = (await receiver.waitFor(8, '/chat', 20_000)).map((r) => r.at).sort((a, b) => a - b);
      expect(oauth.issuedTokens()).toHaveLength(1);
      // 2 per rolling second, counted at the receiver a few ms after each slot (so over 900 ms).
      for (const at of times) expect(times.filter((t) => t >= at && t < at + 900).length).toBeLessThanOrEqual(2);
    } finally {
      await h.stop();
      await receiver.stop();
      await oauth.stop();
    }
  });
  it('a 401 answered with a fresh OAuth2 token takes a rate_limit slot of its own, and a receiver refusing every token costs no token per call', async () => {
    const oauth = await startOAuthServer({ clientId: 'callhook-client', clientSecret: 'oauth-client-secret-value' });
    const receiver = await new Receiver(() => ({ status: 401, body: 'invalid_token' })).start();
    const h = await startHarness(__filename, `
policies:
  - id: default
    apps:
      - name: Chat
        method: POST
        url: "${receiver.url}/chat"
        rate_limit: 1/s
        auth: { type: oauth2, token_url: "${oauth.tokenUrl}", client_id: callhook-client, client_secret: "\${CLIENT_SECRET}" }
`, { env: { CLIENT_SECRET: 'oauth-client-secret-value' } });
    try {
      const ids = Array.from({ length: 6 }, (_, i) => `r401-${i}`);
      await h.post(ids.map((call_id) => makeEvent({ call_id })));
      const records = await Promise.all(ids.map((id) => h.waitForCall(id, 20_000)));
      expect(records.map((r) => r.app_data.chat)).toEqual(ids.map(() => expect.objectContaining({ status: 'failed', http_status: 401, attempts: 1 })));
      const times = receiver.to('/chat').map((r) => r.at).sort((a, b) => a - b);
      // Each request its own slot, 1 s apart (less arrival jitter): before, a resend went 3-14 ms after its 401.
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(900);
      // The shared first token is refused (fetched for those calls: not renewed); the next call,
      // holding it from the cache, gets one fresh token and its resend; that one refused too, the
      // calls after it do not fetch again. Before: 12 requests and 8 tokens for 6 calls.
      expect(times).toHaveLength(7);
      expect(oauth.issuedTokens()).toHaveLength(2);
    } finally {
      await h.stop();
      await receiver.stop();
      await oauth.stop();
    }
  }, 30_000);

  it("an API process started during an outage refuses real-time apps at once, sending nothing", async () => {
    const receiver = await new Receiver(() => ({ status: 503, body: 'down' })).start();
    const yaml = `
policies:
  - id: queued
    apps:
      - { name: Crm, method: POST, url: "${receiver.url}/crm", retry_count: 0, circuit: { failures: 1, open_for: 1m } }
  - id: live
    apps:
      - { name: Crm, phase: real_time, url: "${receiver.url}/crm", retry_count: 0, circuit: { failures: 1, open_for: 1m } }
`;
    const worker = await startHarness(__filename, yaml);
    await worker.post(makeEvent({ call_id: 'rt-open', policy: 'queued' }));
    await worker.waitForCall('rt-open'); // its 503 opened the circuit, in the worker's process
    const api = await startHarness(__filename, yaml, { prefix: worker.prefix, worker: false });
    try {
      await new Promise((r) => setTimeout(r, 500)); // the API's first read of the open circuits, at its start
      const before = receiver.requests.length;
      expect((await api.request('POST', '/v1/realtime', makeEvent({ call_id: 'rt-refused', policy: 'live' }))).body.app_data.crm).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_CIRCUIT_OPEN' } });
      expect(receiver.requests.length).toBe(before);
    } finally {
      await api.stop({ keepKeys: true });
      await worker.stop();
      await receiver.stop();
    }
  });
});
