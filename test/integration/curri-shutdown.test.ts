import { CucmClient, curriRequest, readCurriAnswer } from '../helpers/cucm';
import { startHarness } from '../helpers/harness';
import { startPrivateRedis } from '../helpers/private-redis';
import { Receiver } from '../helpers/receiver';

/**
 * A restart while CUCM is sending: every call CUCM got its answer for keeps what follows the
 * answer (its real-time results stored, its post-call apps queued), as the API waits for that
 * before it closes its Redis connection.
 */
describe('CURRI: stopping the API under load', () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let receiver: Receiver;
  const prefix = 'shutdown';

  beforeAll(async () => {
    // Its own Redis: the test pauses its writes.
    redis = await startPrivateRedis();
    receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ status: 200, body: { name: 'Ada' } }));
  });
  afterAll(async () => {
    await receiver.stop();
    await redis.stop();
  });

  it('every call answered before the stop has its post-call apps queued', async () => {
    const h = await startHarness(__filename, `
policies:
  - id: inbound
    match: { called_number: "^2" }
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", retry_count: 0 }
      - { name: Log, url: "${receiver.url}/log" }
    curri: { calling_name: "{{ app_data.crm.data.name }}" }
`, { prefix, worker: false, redisUrl: redis.url });
    const cucm = new CucmClient(`${h.baseUrl}/curri`);
    let answered = 0;
    let stopping: Promise<unknown> | undefined;
    const sender = async () => {
      while (!stopping) {
        const answer = await cucm.request('POST', curriRequest({ calling: '5550001', called: '2000' })).catch(() => undefined);
        if (answer?.status === 200 && readCurriAnswer(answer.text).cixml.includes('callingname="Ada"')) answered++;
      }
    };
    const senders = Array.from({ length: 50 }, sender);
    // Stopped while 50 requests are in flight, once some calls have been answered, with Redis
    // slow to write for a moment: the work after the last answers is still under way.
    while (answered < 30) await new Promise((r) => setTimeout(r, 5));
    await redis.client.call('CLIENT', 'PAUSE', '300', 'WRITE');
    stopping = h.stop({ keepKeys: true });
    await Promise.all([stopping, ...senders]);
    cucm.close();

    const queued = await redis.client.zcard(`${prefix}:idx:status:queued`);
    const jobs = await redis.client.llen(`${prefix}:calls:wait`);
    expect({ queued, jobs }).toEqual({ queued: answered, jobs: answered });
  });
});
