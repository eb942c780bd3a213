import { ExpiredEntriesTrimmer } from '../../src/store/expiry';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';
import { startRedisCluster } from '../helpers/redis-cluster';

describe('on Redis Cluster', () => {
  it('queues, runs and records calls with a hash-tagged prefix', async () => {
    const cluster = await startRedisCluster();
    const receiver = await new Receiver().start();
    const h = await startHarness(__filename, `
policies:
  - id: default
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/lookup" }
      - { name: Notify, method: POST, url: "${receiver.url}/notify", body: { seen: "{{ app_data.lookup.status }}" } }
`, { redisUrl: cluster.url, prefix: '{callhook-test}' });
    try {
      const events = Array.from({ length: 50 }, () => makeEvent());
      expect((await h.request('POST', '/v1/realtime', events[0])).status).toBe(200);
      const posted = await h.post([...events, events[1]]);
      expect(posted.body.calls.filter((c) => c.status === 'duplicate')).toHaveLength(1);
      for (const event of events) expect((await h.waitForCall(event.call_id)).status).toBe('completed');
      expect(receiver.to('/notify')).toHaveLength(50);
      expect(receiver.to('/notify').filter((r) => (r.json as { seen: string }).seen === 'success')).toHaveLength(1);
      // The list (Redis's TIME for its bounds) and the trim of expired entries (one script over the prefix's keys).
      expect((await h.request('GET', '/v1/calls?since=1h&limit=100')).body.calls).toHaveLength(50);
      expect(await new ExpiredEntriesTrimmer(h.runtime.redis, '{callhook-test}', 60_000, ['default']).trim()).toBe(0);
    } finally {
      await h.stop();
      await receiver.stop();
      await cluster.stop();
    }
  });

  it('refuses a prefix without a hash tag', async () => {
    const { parseSettings } = await import('../../src/settings');
    expect(() => parseSettings({ REDIS_URL: 'redis://a:7000,redis://b:7000', CALLHOOK_PREFIX: 'callhook' })).toThrow(/hash tag such as \{callhook\}/);
  });
});
