import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisClient } from '../../src/store/call-store';
import pino from 'pino';
import { checkEviction, EvictionWatch } from '../../src/store/eviction';
import { CDR_TEST_POLICIES, syntheticRows, writeCdrFile } from '../helpers/cdr-generator';
import { CucmClient, curriRequest, readCurriAnswer } from '../helpers/cucm';
import { startHarness } from '../helpers/harness';
import { fillUntilRefused, startPrivateRedis } from '../helpers/private-redis';
import { exited, spawnCli } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

const EVENT = { calling_number: '+15551234567', called_number: '1000', policy: 'p' };

describe('Redis refusing writes (out of memory, noeviction)', () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let ballast: string[] = [];

  beforeAll(async () => {
    redis = await startPrivateRedis(['--maxmemory', '24mb', '--maxmemory-policy', 'noeviction']);
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `
policies:
  - id: p
    match: { called_number: "^1000$" }
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/rt" }
      - { name: Post, url: "${receiver.url}/post" }
    curri: { calling_name: "{{ app_data.lookup.data.name }}" }
`, { redisUrl: redis.url });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
    await redis.stop();
  });
  afterEach(async () => {
    if (ballast.length > 0) await redis.client.del(...ballast);
    ballast = [];
    receiver.requests.length = 0;
  });

  it('answers 503 with Retry-After, sends nothing, and is not ready until Redis takes writes again', async () => {
    ballast = await fillUntilRefused(redis.client);
    const posted = await h.request('POST', '/v1/calls', EVENT);
    expect([posted.status, posted.body.error.code, posted.headers.get('retry-after')]).toEqual([503, 'CALLHOOK_UNAVAILABLE', '5']);
    const realtime = await h.request('POST', '/v1/realtime', EVENT);
    expect([realtime.status, realtime.body.error.code]).toEqual([503, 'CALLHOOK_UNAVAILABLE']);
    expect(receiver.requests).toHaveLength(0); // nothing sent that could not be recorded
    const ready = await h.request('GET', '/readyz');
    expect([ready.status, ready.body.redis]).toEqual([503, 'refuses writes (out of memory)']);

    await redis.client.del(...ballast);
    ballast = [];
    expect((await h.request('GET', '/readyz')).status).toBe(200);
    const again = await h.post(EVENT);
    expect(again.status).toBe(202);
    expect((await h.waitForCall(again.body.calls[0]!.call_id)).status).toBe('completed');
  });

  it('a real-time app sent before Redis refused its result: the answer says so instead of a 500', async () => {
    receiver.on('/rt', async () => {
      ballast = await fillUntilRefused(redis.client); // Redis fills up while the app is in flight
      return { status: 200, body: { name: 'John Doe' } };
    });
    const answer = await h.request('POST', '/v1/realtime', EVENT);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ stored: false, app_data: { lookup: { status: 'success', data: { name: 'John Doe' } } } });
    expect(answer.body.warning).toMatch(/could not be stored \(OOM.*do not resend/);
    expect(receiver.to('/rt')).toHaveLength(1);
  });

  it('CURRI fails open: CUCM gets continue unchanged, no app is sent and nothing is queued', async () => {
    ballast = await fillUntilRefused(redis.client);
    const cucm = new CucmClient(`${h.baseUrl}/curri`);
    const answer = await cucm.request('POST', curriRequest({ calling: '+15551234567', called: '1000' }));
    cucm.close();
    const { decision, cixml } = readCurriAnswer(answer.text);
    expect([answer.status, decision, cixml]).toEqual([200, 'Permit', '<cixml ver="1.0"><continue></continue></cixml>']);
    await new Promise((resolve) => setTimeout(resolve, 300)); // post-call queueing would follow the answer
    expect(receiver.requests).toHaveLength(0);
  });
});

describe("Redis's maxmemory-policy changed to one that evicts while callhook runs", () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let h: Awaited<ReturnType<typeof startHarness>>;
  const logs: { level: number; msg: string; evicted_keys?: number }[] = [];
  const sample = (text: string, name: string) => Number(text.split('\n').find((line) => line.startsWith(`${name} `))?.slice(name.length + 1));
  const metrics = async () => (await fetch(`${h.baseUrl}/metrics`)).text();

  beforeAll(async () => {
    redis = await startPrivateRedis(['--maxmemory-policy', 'noeviction']);
    const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
    h = await startHarness(__filename, 'policies: [{ id: p, apps: [{ name: Post, url: "http://127.0.0.1:1/" }] }]', { redisUrl: redis.url, worker: false, logger });
  });
  afterAll(async () => {
    await h.stop();
    await redis.stop();
  });

  it('logs an error once, fails /readyz with the reason and says so in /metrics; counts the keys evicted; all back once noeviction', async () => {
    expect((await h.request('GET', '/readyz')).status).toBe(200);
    await redis.client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await h.runtime.eviction.check();
    await h.runtime.eviction.check(); // nothing changed since: no second line
    const errors = logs.filter((line) => line.level === 50);
    expect(errors.map((line) => line.msg)).toEqual([
      expect.stringMatching(/^Redis maxmemory-policy is allkeys-lru: when memory is full it would silently evict call records and queued calls\. Set maxmemory-policy noeviction .*not ready/),
    ]);
    const ready = await h.request('GET', '/readyz');
    expect([ready.status, ready.body.redis]).toEqual([503, 'evicts keys (maxmemory-policy allkeys-lru): set maxmemory-policy noeviction']);
    let text = await metrics();
    expect([sample(text, 'callhook_redis_evicting'), sample(text, 'callhook_redis_ready'), sample(text, 'callhook_redis_evicted_keys_total')]).toEqual([1, 0, 0]);

    // Memory full: Redis evicts to take new writes.
    const used = Number(/used_memory:(\d+)/.exec(await redis.client.info('memory'))![1]);
    await redis.client.config('SET', 'maxmemory', String(used + 2 * 1024 * 1024));
    for (let i = 0; i < 40; i++) await redis.client.set(`ballast:${i}`, 'x'.repeat(100 * 1024));
    const evicted = Number(/evicted_keys:(\d+)/.exec(await redis.client.info('stats'))![1]);
    expect(evicted).toBeGreaterThan(0);
    await h.runtime.eviction.check();
    expect(logs.filter((line) => line.level === 50).at(-1)).toMatchObject({ evicted_keys: evicted, msg: expect.stringMatching(/^Redis evicted \d+ keys .*call records and queued calls may be lost/) });
    expect(sample(await metrics(), 'callhook_redis_evicted_keys_total')).toBe(evicted);

    await redis.client.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.client.config('SET', 'maxmemory', '0');
    await h.runtime.eviction.check();
    expect((await h.request('GET', '/readyz')).status).toBe(200);
    text = await metrics();
    expect([sample(text, 'callhook_redis_evicting'), sample(text, 'callhook_redis_ready')]).toEqual([0, 1]);
    expect(logs.at(-1)?.msg).toMatch(/noeviction again/);
  });

  it('checks on its own once started: a change shows at the next tick', async () => {
    let info = 'maxmemory_policy:noeviction\r\nevicted_keys:5\r\n';
    const changes: string[] = [];
    const watch = new EvictionWatch({ info: async () => info } as unknown as RedisClient, {
      policyChanged: (policy, problem) => changes.push(`${policy} ${problem ? 'evicts' : 'keeps'}`),
      keysEvicted: (count) => changes.push(`evicted ${count}`),
    });
    await watch.start(20, () => undefined);
    info = 'maxmemory_policy:volatile-lru\r\nevicted_keys:12\r\n';
    await new Promise((resolve) => setTimeout(resolve, 100));
    watch.stop();
    expect(changes).toEqual(['volatile-lru evicts', 'evicted 7']);
  });
});

describe('call records that could be lost are refused at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'callhook-limits-'));
  const policies = (retries: string) => {
    const path = join(dir, `p-${retries.replace(/\W/g, '')}.yaml`);
    writeFileSync(path, `policies: [{ id: slow-crm, apps: [{ name: A, url: "https://crm.example.com/", ${retries} }] }]`);
    return path;
  };

  it.each(['0', '30s'])('CALLHOOK_RESULT_TTL=%s is refused', async (ttl) => {
    const child = spawnCli(['worker'], { REDIS_URL: redisUrl(), CALLHOOK_CONFIG: policies('retry_count: 1'), CALLHOOK_RESULT_TTL: ttl });
    expect(await exited(child)).toBe(1);
    expect(child.output()).toMatch(new RegExp(`CALLHOOK_RESULT_TTL=${ttl}: must be at least 60000 ms`));
  });

  it.each([
    ['allkeys-lru', []],
    ['volatile-ttl', []],
    ['volatile-lru, CONFIG disabled (read from INFO, as on managed Redis)', ['--rename-command', 'CONFIG', '']],
  ])('a Redis with maxmemory-policy %s is refused', async (policy, extra) => {
    const redis = await startPrivateRedis(['--maxmemory-policy', policy.split(',')[0]!, ...(extra as string[])]);
    try {
      for (const role of ['api', 'worker']) {
        const child = spawnCli([role], { REDIS_URL: redis.url, CALLHOOK_CONFIG: 'config/policies.yaml', CALLHOOK_PORT: '0' });
        expect(await exited(child)).toBe(1);
        expect(child.output()).toMatch(new RegExp(`Redis maxmemory-policy is ${policy.split(',')[0]}: when memory is full it would silently evict`));
      }
    } finally {
      await redis.stop();
    }
  });

  it('ingest-cdr (once and --watch) and replay, which queue calls, refuse a Redis that evicts keys and queue nothing', async () => {
    const redis = await startPrivateRedis(['--maxmemory', '20mb', '--maxmemory-policy', 'allkeys-lru']);
    const cdrDir = mkdtempSync(join(tmpdir(), 'callhook-evicting-cdr-'));
    await writeCdrFile(join(cdrDir, 'cdr_StandAloneCluster_01_202401011200_1'), syntheticRows(3));
    writeFileSync(join(dir, 'cdr.yaml'), CDR_TEST_POLICIES);
    const env = { REDIS_URL: redis.url, CALLHOOK_CONFIG: join(dir, 'cdr.yaml'), CALLHOOK_PREFIX: 'evicting' };
    try {
      for (const args of [['ingest-cdr', '--no-cmr', cdrDir], ['ingest-cdr', '--watch', '--no-cmr', cdrDir], ['replay', 'c-1']]) {
        const child = spawnCli(args, env);
        expect([args.join(' '), await exited(child)]).toEqual([args.join(' '), 1]);
        expect(child.output()).toMatch(/callhook: Redis maxmemory-policy is allkeys-lru: when memory is full it would silently evict call records and queued calls\. Set maxmemory-policy noeviction/);
      }
      // BullMQ writes its queue's meta as it connects; no call record, job or ledger entry.
      expect((await redis.client.keys('evicting:*')).filter((key) => key !== 'evicting:calls:meta')).toEqual([]);
    } finally {
      await redis.stop();
      rmSync(cdrDir, { recursive: true, force: true });
    }
  });

  it('where Redis will not tell its policy, start goes on with a loud warning', async () => {
    const refusing = { info: () => Promise.reject(new Error('ERR unknown command')), config: () => Promise.reject(new Error('ERR unknown command')) };
    expect(await checkEviction(refusing as unknown as RedisClient)).toEqual({ warning: expect.stringMatching(/could not read Redis maxmemory-policy .* make sure it is noeviction/) });
    const noeviction = { info: async () => '# Memory\r\nmaxmemory_policy:noeviction\r\n', config: async () => [] };
    expect(await checkEviction(noeviction as unknown as RedisClient)).toEqual({});
  });
});
