import pino from 'pino';
import { connectRedis } from '../../src/runtime';
import { CallIndex } from '../../src/store/call-index';
import { ExpiredEntriesTrimmer } from '../../src/store/expiry';
import { upgradeStore } from '../../src/store/upgrade';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { OldBuild } from '../helpers/old-records';
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

  it('upgrades the records an older callhook wrote: each master is scanned, the hash-tagged keys are on one', async () => {
    const cluster = await startRedisCluster();
    const redis = connectRedis(cluster.url);
    try {
      const prefix = '{callhook-upgrade}';
      const old = new OldBuild(redis, prefix, 60_000);
      const events = Array.from({ length: 30 }, () => makeEvent());
      for (const event of events) {
        await old.queue(event);
        await old.finish(event.call_id, 'default', 'notify', 'partial');
      }
      expect(await upgradeStore(redis, prefix, 60_000, pino({ level: 'silent' }))).toEqual({ records: 30, upgraded: 30, legacyFailed: 30 });
      const page = await new CallIndex(redis, prefix, 60_000).list({ statuses: ['partial'] }, 100);
      expect(page.rows.map((row) => row.call_id).sort()).toEqual(events.map((e) => e.call_id).sort());
      expect(await upgradeStore(redis, prefix, 60_000, pino({ level: 'silent' }))).toBeUndefined();
    } finally {
      redis.disconnect();
      await cluster.stop();
    }
  });

  it('refuses a prefix without a hash tag', async () => {
    const { parseSettings } = await import('../../src/settings');
    expect(() => parseSettings({ REDIS_URL: 'redis://a:7000,redis://b:7000', CALLHOOK_PREFIX: 'callhook' })).toThrow(/hash tag such as \{callhook\}/);
  });
});
