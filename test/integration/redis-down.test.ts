import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { startPrivateRedis } from '../helpers/private-redis';

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
});
