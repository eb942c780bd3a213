import type { Redis } from 'ioredis';
import { answerCurri } from '../../src/curri/handler';
import { createLogger } from '../../src/logger';
import { parseConfig } from '../../src/policies/load';
import { CallStore } from '../../src/store/call-store';
import { ResultsFeed } from '../../src/store/results-feed';
import { Redactor } from '../../src/util/redact';
import { closeHttpClient, createHttpClient } from '../../src/webhook/http-client';
import { OAuthTokenCache } from '../../src/webhook/oauth';
import { HttpSender } from '../../src/webhook/send';
import { curriRequest } from '../helpers/cucm';
import { Receiver } from '../helpers/receiver';
import { connectRedis, deletePrefix, uniquePrefix } from '../helpers/redis';

/** A CURRI call whose post-call apps cannot be queued once CUCM has its answer. */
describe('CURRI: post-call apps that cannot be queued', () => {
  const prefix = uniquePrefix(__filename);
  let redis: Redis;
  let receiver: Receiver;
  let http: ReturnType<typeof createHttpClient>;

  beforeAll(async () => {
    redis = connectRedis();
    receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ status: 200, body: { name: 'Ada' } }));
    http = createHttpClient();
  });
  afterAll(async () => {
    closeHttpClient(http);
    await receiver.stop();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('the call ends with its real-time outcome, once in the feed, rather than staying running', async () => {
    const config = parseConfig(`
policies:
  - id: default
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", retry_count: 0 }
      - { name: Log, url: "${receiver.url}/log" }
    curri: { calling_name: "{{ app_data.crm.data.name }}" }
`);
    const store = new CallStore(redis, prefix, 60_000);
    const answer = await answerCurri(curriRequest({ calling: '5550001', called: '2000' }), Date.now(), {
      config,
      sender: new HttpSender(http, new OAuthTokenCache(http)),
      redactor: new Redactor([]),
      store,
      enqueue: () => Promise.reject(new Error('the queue refused the job')),
      logger: createLogger({ level: 'silent' }),
      timeoutMs: 2000,
    });
    expect(answer).toMatchObject({ decision: 'Permit', outcome: 'ok' });
    expect(answer.xml).toContain('callingname=&quot;Ada&quot;');
    await expect(answer.afterAnswer!()).rejects.toThrow('the queue refused the job');
    const record = await store.get(answer.call_id!);
    expect(record).toMatchObject({ status: 'completed', app_data: { crm: { status: 'success' } } });
    const feed = await new ResultsFeed(redis, prefix).read('0', 100);
    expect(feed.map((entry) => [entry.call.call_id, entry.call.status])).toEqual([[answer.call_id, 'completed']]);
  });
});
