import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { startPrivateRedis } from '../helpers/private-redis';
import { Receiver } from '../helpers/receiver';

/**
 * A Redis that refuses CLIENT LIST (Memorystore; CLIENT renamed away) cannot say which workers are
 * connected. BullMQ then answers a placeholder entry, which callhook counted as one worker: the
 * no-worker alert could never fire there. The count is unknown instead: no sample, null in /v1/stats.
 */
describe('a Redis that refuses CLIENT LIST', () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    redis = await startPrivateRedis(['--rename-command', 'CLIENT', '']);
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `policies: [{ id: default, apps: [{ name: Log, url: "${receiver.url}/log" }] }]`, { redisUrl: redis.url });
  });
  afterAll(async () => {
    await h?.stop({ keepKeys: true }); // its keys die with the private Redis
    await redis?.stop();
    await receiver?.stop();
  });

  it('really refuses it (the premise)', async () => {
    await expect(redis.client.call('CLIENT', 'LIST')).rejects.toThrow(/unknown command/);
  });

  it('calls still run', async () => {
    const event = makeEvent();
    await h.post(event);
    expect((await h.waitForCall(event.call_id)).status).toBe('completed');
  });

  it('/metrics has no callhook_queue_workers sample (unknown, not 1 and not 0), and the queue depth as usual', async () => {
    const text = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(text).not.toMatch(/^callhook_queue_workers\{/m);
    expect(text).toMatch(/^callhook_queue_jobs\{state="waiting"\} 0$/m);
    expect(text).toMatch(/^callhook_redis_ready 1$/m);
  });

  it('GET /v1/stats says the workers are unknown (null), rather than listing one named ""', async () => {
    const stats = await h.request('GET', '/v1/stats');
    expect(stats.status).toBe(200);
    expect(stats.body.queue.workers).toBeNull();
    expect(stats.body.queue.jobs).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
  });
});
