import { hostname } from 'node:os';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

describe('GET /v1/policies and GET /v1/stats (the console\'s Policies and Queue screens)', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `
policies:
  - id: chat
    description: Post to chat
    match: { called_number: "^1" }
    apps:
      - { name: Slack, method: POST, url: "${receiver.url}/services/\${SLACK_PATH}", headers: { X-Api-Key: "\${KEY}" }, auth: { type: bearer, token: "\${TOKEN}" }, when: "{{ event.vip }}", body: { text: "hi" }, rate_limit: 1/s, signing: { secret: "\${SIGNING}" } }
  - id: literal
    apps:
      - { name: Vendor, url: "${receiver.url}/v?api_key=literal-url-key-1&page=1", headers: { X-Api-Key: literal-hdr-key-xyz1, Authorization: "Token literal-authz-abc9", X-Caller: "{{ event.calling_number }}" }, query: { access_token: literal-query-tok-2, source: callhook } }
`, { env: { SLACK_PATH: 'T0000/B0000/secretpath', KEY: 'key-12345678', TOKEN: 'token-12345678', SIGNING: `whsec_${Buffer.from('signing-key-0123456789').toString('base64')}` } });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it('describes each policy as written, secrets redacted and auth by type only', async () => {
    const answer = await h.request('GET', '/v1/policies');
    expect(answer.status).toBe(200);
    expect({ ...answer.body, policies: answer.body.policies.slice(0, 1) }).toEqual({
      source: 'test',
      problems: [],
      policies: [{
        id: 'chat', description: 'Post to chat', match: { called_number: '^1' },
        apps: [{
          name: 'Slack', slug: 'slack', phase: 'post_call', order: 50, method: 'POST', url: `${receiver.url}/services/[REDACTED]`, auth: 'bearer',
          headers: [['X-Api-Key', '[REDACTED]']], query: [], timeout_ms: 30000, retry_count: 3, retry_delay_ms: 1000, when: '{{ event.vip }}', message: null, on_failure: 'continue',
          delivery: { body_format: 'json', rate_limit: '1/s', rate_limit_key: null, circuit: { failures: 5, open_for_ms: 30000, max_wait_ms: 1200000 }, retry_jitter: 0.2, signed: true, tls: false },
        }],
      }],
    });
    expect(JSON.stringify(answer.body)).not.toMatch(/secretpath|key-12345678|token-12345678|whsec_/);
  });

  it('hides credentials written literally in the file, as the request would show them', async () => {
    const answer = await h.request('GET', '/v1/policies');
    const vendor = answer.body.policies[1].apps[0];
    expect(vendor.url).toBe(`${receiver.url}/v?api_key=[REDACTED]&page=1`);
    expect(vendor.headers).toEqual([['X-Api-Key', '[REDACTED]'], ['Authorization', '[REDACTED]'], ['X-Caller', '{{ event.calling_number }}']]);
    expect(vendor.query).toEqual([['access_token', '[REDACTED]'], ['source', 'callhook']]);
    expect(JSON.stringify(answer.body)).not.toMatch(/literal-/);
  });

  it('counts the queue and the calls finished per minute by status', async () => {
    await h.post([makeEvent({ called_number: '1000', vip: true }), makeEvent({ called_number: '9999' })]);
    const deadline = Date.now() + 10_000;
    type Minute = { completed: number; partial: number; failed: number; unmatched: number };
    const total = (minutes: Minute[]) => minutes.reduce((sum, m) => ({ completed: sum.completed + m.completed, partial: sum.partial + m.partial, failed: sum.failed + m.failed, unmatched: sum.unmatched + m.unmatched }));
    let stats;
    do {
      stats = (await h.request('GET', '/v1/stats')).body.queue;
      const sum = total(stats.finished_per_minute);
      if (sum.completed + sum.unmatched >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    expect(stats.finished_per_minute).toHaveLength(30);
    // This file's prefix holds these two calls only (they may fall either side of a minute).
    expect(total(stats.finished_per_minute)).toEqual({ completed: 1, unmatched: 1, failed: 0, partial: 0 });
    expect(stats.jobs).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    // Named host:pid, so an operator can tell workers apart (this file's worker runs in-process).
    expect(stats.workers).toEqual([{ name: `${hostname()}:${process.pid}`, idle_s: expect.any(Number) }]);
  });
});
