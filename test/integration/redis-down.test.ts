import { createLogger } from '../../src/logger';
import { CucmClient, curriRequest, readCurriAnswer } from '../helpers/cucm';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { startPrivateRedis } from '../helpers/private-redis';
import { Receiver } from '../helpers/receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Redis going away under the API: routes that need it answer 503 at once (ioredis would hold
 * their commands until Redis is back, and run them then), and nothing a refused request asked
 * for happens later.
 */
describe('Redis unreachable', () => {
  it('the API answers 503 at once, and a refused request changes nothing once Redis is back', async () => {
    let redis = await startPrivateRedis();
    const h = await startHarness(__filename, 'policies: []\n', { redisUrl: redis.url, worker: false, prefix: 'down' });
    try {
      expect((await h.request('POST', '/v1/calls', makeEvent())).status).toBe(202);
      await redis.stop();
      for (let i = 0; i < 100 && !h.runtime.redisDown(); i++) await sleep(50);
      expect(h.runtime.redisDown()).toBe(true);

      const refused = makeEvent({ call_id: 'during-outage' });
      const started = Date.now();
      const answers = await Promise.all([
        h.request('POST', '/v1/calls', refused),
        h.request('GET', '/v1/calls/during-outage'),
        h.request('POST', '/v1/calls/during-outage/replay'),
        h.request('GET', '/v1/results?wait=5s'),
      ]);
      expect((await fetch(`${h.baseUrl}/v1/calls/during-outage`, { method: 'HEAD' })).status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2000);
      for (const answer of answers) {
        expect(answer).toMatchObject({ status: 503, body: { error: { code: 'CALLHOOK_UNAVAILABLE' } } });
        expect(answer.headers.get('retry-after')).toBe('5');
      }
      expect((await h.request('GET', '/healthz')).status).toBe(200);

      redis = await startPrivateRedis([], redis.port);
      for (let i = 0; i < 200 && h.runtime.redisDown(); i++) await sleep(50);
      await sleep(300); // whatever ioredis would have held back has had its chance to run
      expect(await h.get('during-outage')).toBeUndefined();
      expect((await h.request('POST', '/v1/calls', refused)).body.calls[0].status).toBe('queued');
    } finally {
      await h.stop();
      await redis.stop();
    }
  });

  it('CURRI: a call with real-time apps gets its on_error answer at once (outcome error), not after the whole deadline', async () => {
    let redis = await startPrivateRedis();
    const receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ status: 200, body: { name: 'Ada' } }));
    const logLines: string[] = [];
    const h = await startHarness(__filename, `
policies:
  - id: strict
    match: { called_number: "^3" }
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", retry_count: 0 }
    curri: { on_error: reject, post_call: false, calling_name: "{{ app_data.crm.data.name }}" }
  - id: names
    match: { called_number: "^4" }
    apps:
      - { name: Log, url: "${receiver.url}/log" }
    curri: { post_call: false, calling_name: "{{ event.calling_number }}" }
`, {
      redisUrl: redis.url,
      worker: false,
      env: { CALLHOOK_CURRI_TIMEOUT: '3s' },
      logger: createLogger({ level: 'warn', destination: { write: (line: string) => void logLines.push(line) } }),
    });
    const cucm = new CucmClient(`${h.baseUrl}/curri`);
    const ask = async (called: string) => readCurriAnswer((await cucm.request('POST', curriRequest({ calling: '5550001', called }))).text);
    let down = false;
    const restart = async () => {
      redis = await startPrivateRedis([], redis.port);
      down = false;
      for (let i = 0; i < 200 && h.runtime.redisDown(); i++) await sleep(50);
    };
    try {
      expect(await ask('3000')).toMatchObject({ decision: 'Permit' }); // Redis up: the CRM names the caller
      await redis.stop();
      down = true;
      for (let i = 0; i < 100 && !h.runtime.redisDown(); i++) await sleep(50);
      expect(h.runtime.redisDown()).toBe(true);
      receiver.requests.length = 0;

      const started = Date.now();
      expect(await ask('3000')).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
      expect(Date.now() - started).toBeLessThan(1000); // not the 3 s deadline
      expect(receiver.requests).toEqual([]); // no app was sent
      const logged = logLines.map((line) => JSON.parse(line) as { outcome?: string; policy?: string; reason?: string }).filter((l) => l.outcome);
      expect(logged).toEqual([expect.objectContaining({ outcome: 'error', policy: 'strict', reason: expect.stringMatching(/Redis is unavailable/) })]);
      // A policy without real-time apps needs no Redis for its answer.
      expect(await ask('4000')).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue><modify callingname="5550001"/></continue></cixml>' });

      await restart();
      expect(await ask('3000')).toMatchObject({ decision: 'Permit' });
      const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Deny",outcome="error"\} 1\b/);
      expect(metrics).not.toMatch(/callhook_curri_responses_total\{decision="Deny",outcome="timeout"\} [1-9]/);
    } finally {
      cucm.close();
      if (down) await restart(); // a failed check must not leave the harness waiting on a Redis that never returns
      await h.stop();
      await redis.stop();
      await receiver.stop();
    }
  });
});
