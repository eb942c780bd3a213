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
    receiver.on('/hang', () => ({ hang: true }));
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

  function depsFor(yaml: string, saving: CurriDeps['store'], enqueue: CurriDeps['enqueue'] = () => Promise.resolve(), timeoutMs = 2000): CurriDeps {
    return {
      config: parseConfig(yaml),
      observer,
      sender: new HttpSender(http, new OAuthTokenCache(http)),
      redactor: new Redactor([]),
      store: saving,
      enqueue,
      logger: createLogger({ level: 'silent' }),
      timeoutMs,
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

  describe('an app whose turn comes after the deadline is not sent, and its result says so', () => {
    /** A (hangs past the deadline), then B, which has side effects: a POST. */
    const hungThenPost = `
policies:
  - id: default
    apps:
      - { name: A, phase: real_time, url: "${'${receiver.url}'}/hang", timeout: 5s, retry_count: 0 }
      - { name: B, phase: real_time, method: POST, url: "${'${receiver.url}'}/post", body: { second: "{{ event.call_id }}" }, retry_count: 0 }
    curri: { calling_name: x }
`;
    const notSent = { status: 'failed', http_status: null, request: null, error: { code: 'CALLHOOK_DEADLINE_PASSED', message: "the call's deadline passed before the request was sent: nothing was sent" } };

    it('an earlier app took the time: the next one is never sent', async () => {
      const deps = depsFor(hungThenPost.replaceAll('${receiver.url}', receiver.url), store, undefined, 300);
      const answer = await answerCurri(curriRequest({ calling: '5550001', called: '2000' }), Date.now(), deps);
      expect(answer).toMatchObject({ decision: 'Permit', outcome: 'timeout' });
      await answer.afterAnswer!();
      await new Promise((resolve) => setTimeout(resolve, 200)); // a request sent late would have arrived by now
      expect(receiver.to('/post').filter((r) => (r.json as { second: string }).second === answer.call_id)).toEqual([]);
      const record = await store.get(answer.call_id!);
      expect(record!.app_data.a).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_HTTP_TIMEOUT', message: expect.stringMatching(/^no response within \d+ ms$/) } });
      expect(record!.app_data.b).toMatchObject(notSent);
    });

    it('a record write that returns after the deadline (Redis stalled): no app is sent', async () => {
      let release!: () => void;
      const stalled = new Promise<void>((resolve) => (release = resolve));
      const deps = depsFor(hungThenPost.replaceAll('${receiver.url}', receiver.url), {
        claimRealtime: async (event) => {
          await stalled;
          return store.claimRealtime(event);
        },
        storedPolicy: (callId) => store.storedPolicy(callId),
        saveRealtimeResults: (...args) => store.saveRealtimeResults(...args),
      }, undefined, 200);
      const hangsBefore = receiver.to('/hang').length;
      const answer = await answerCurri(curriRequest({ calling: '5550001', called: '2000' }), Date.now(), deps);
      expect(answer).toMatchObject({ decision: 'Permit', outcome: 'timeout' });
      release(); // Redis resumes once CUCM has its answer
      await answer.afterAnswer!();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(receiver.to('/hang')).toHaveLength(hangsBefore);
      expect(receiver.to('/post').filter((r) => (r.json as { second: string }).second === answer.call_id)).toEqual([]);
      const record = await store.get(answer.call_id!);
      expect(record!.app_data).toMatchObject({ a: notSent, b: notSent });
      expect(record!.app_data.a!.attempts_log).toEqual([expect.objectContaining({ http_status: null, error: notSent.error })]);
    });
  });
});
