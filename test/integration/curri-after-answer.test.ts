import type { Redis } from 'ioredis';
import { answerCurri, type CurriDeps } from '../../src/curri/handler';
import { createLogger } from '../../src/logger';
import type { CallEvent } from '../../src/model/call';
import { noopObserver, type PipelineObserver } from '../../src/pipeline/observer';
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

/** CUCM's answer does not wait for the real-time results to be stored; they are stored, then post-call apps queued, after it. */
describe('CURRI: what is stored and queued once CUCM has its answer', () => {
  const prefix = uniquePrefix(__filename);
  let redis: Redis;
  let receiver: Receiver;
  let http: ReturnType<typeof createHttpClient>;
  let store: CallStore;

  beforeAll(async () => {
    redis = connectRedis();
    receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ status: 200, body: { name: 'Ada' } }));
    http = createHttpClient();
    store = new CallStore(redis, prefix, 60_000);
  });
  afterAll(async () => {
    closeHttpClient(http);
    await receiver.stop();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  /** The store, with each save of real-time results held until `release()`. */
  function heldSaves() {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const saving: CurriDeps['store'] = {
      claimRealtime: (event) => store.claimRealtime(event),
      storedPolicy: (callId) => store.storedPolicy(callId),
      saveRealtimeResults: async (...args) => {
        await released;
        return store.saveRealtimeResults(...args);
      },
    };
    return { saving, release };
  }

  /** One real-time CRM lookup that names the caller, and optionally a post-call app after it. */
  const lookupPolicy = (withPostCallApp = false) => `
policies:
  - id: default
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", retry_count: 0 }${withPostCallApp ? `
      - { name: Log, url: "${receiver.url}/log" }` : ''}
    curri: { calling_name: "{{ app_data.crm.data.name }}" }
`;

  /** The calls the metrics would count as finished, with their status. */
  let finished: [string, string][] = [];
  beforeEach(() => (finished = []));
  const observer: PipelineObserver = { ...noopObserver, callFinished: (callId, _policy, status) => finished.push([callId, status]) };

  function depsFor(yaml: string, saving: CurriDeps['store'], enqueue: CurriDeps['enqueue'] = () => Promise.resolve()): CurriDeps {
    return {
      config: parseConfig(yaml),
      observer,
      sender: new HttpSender(http, new OAuthTokenCache(http)),
      redactor: new Redactor([]),
      store: saving,
      enqueue,
      logger: createLogger({ level: 'silent' }),
      timeoutMs: 2000,
    };
  }

  it('answers while the save is still held, and stores the call when the answer is out', async () => {
    const { saving, release } = heldSaves();
    const deps = depsFor(lookupPolicy(), saving);
    const answer = await answerCurri(curriRequest({ calling: '5550001', called: '2000' }), Date.now(), deps);
    expect(answer).toMatchObject({ decision: 'Permit', outcome: 'ok' });
    expect(answer.xml).toContain('callingname=&quot;Ada&quot;');
    expect(await store.get(answer.call_id!)).toMatchObject({ status: 'running', app_data: {} });

    const stored = answer.afterAnswer!();
    expect(finished).toEqual([]);
    release();
    await stored;
    expect(finished).toEqual([[answer.call_id, 'completed']]); // counted once its final status is stored
    expect(await store.get(answer.call_id!)).toMatchObject({ status: 'completed', policy: 'default', app_data: { crm: { status: 'success', data: { name: 'Ada' } } } });
    const feed = await new ResultsFeed(redis, prefix).read('0', 100);
    expect(feed.filter((entry) => entry.call.call_id === answer.call_id).map((entry) => entry.call.status)).toEqual(['completed']);
  });

  it('queues the post-call apps only after the real-time results are stored', async () => {
    const { saving, release } = heldSaves();
    const queued: { event: CallEvent; storedResults: string[] }[] = [];
    const deps = depsFor(lookupPolicy(true), saving, async (event) => {
      queued.push({ event, storedResults: Object.keys((await store.get(event.call_id))?.app_data ?? {}) });
    });
    const answer = await answerCurri(curriRequest({ calling: '5550001', called: '2000' }), Date.now(), deps);
    expect(answer).toMatchObject({ decision: 'Permit', outcome: 'ok' });
    const after = answer.afterAnswer!();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(queued).toEqual([]);
    release();
    await after;
    expect(queued).toEqual([{ event: expect.objectContaining({ call_id: answer.call_id }), storedResults: ['crm'] }]);
    expect(finished).toEqual([]); // its worker counts it, once the post-call apps have run
  });

  it('a save that fails is reported after the answer, which was already the policy\'s', async () => {
    const deps = depsFor(lookupPolicy(), {
      claimRealtime: (event) => store.claimRealtime(event),
      storedPolicy: (callId) => store.storedPolicy(callId),
      saveRealtimeResults: () => Promise.reject(new Error('OOM command not allowed when used memory > maxmemory')),
    });
    const answer = await answerCurri(curriRequest({ calling: '5550001', called: '2000' }), Date.now(), deps);
    expect(answer.xml).toContain('callingname=&quot;Ada&quot;');
    await expect(answer.afterAnswer!()).rejects.toThrow(/could not be stored \(OOM/);
    expect(finished).toEqual([]); // nothing stored: not counted as finished
  });

  it('post-call apps that cannot be queued: the call ends with its real-time outcome, once in the feed, rather than staying running', async () => {
    const deps = depsFor(lookupPolicy(true), store, () => Promise.reject(new Error('the queue refused the job')));
    const answer = await answerCurri(curriRequest({ calling: '5550001', called: '2000' }), Date.now(), deps);
    expect(answer).toMatchObject({ decision: 'Permit', outcome: 'ok' });
    expect(answer.xml).toContain('callingname=&quot;Ada&quot;');
    await expect(answer.afterAnswer!()).rejects.toThrow('the queue refused the job');
    expect(finished).toEqual([[answer.call_id, 'completed']]);
    expect(await store.get(answer.call_id!)).toMatchObject({ status: 'completed', app_data: { crm: { status: 'success' } } });
    const feed = await new ResultsFeed(redis, prefix).read('0', 100);
    expect(feed.filter((entry) => entry.call.call_id === answer.call_id).map((entry) => entry.call.status)).toEqual(['completed']);
  });
});
