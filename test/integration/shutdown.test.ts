import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { exited, spawnCli } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

describe('stopping a worker that has a call in flight', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/hang', () => ({ hang: true }));
    const yaml = `policies: [{ id: default, apps: [{ name: Hang, url: "${receiver.url}/hang", timeout: 60s }] }]`;
    const configPath = join(mkdtempSync(join(tmpdir(), 'callhook-shutdown-')), 'policies.yaml');
    writeFileSync(configPath, yaml);
    h = await startHarness(__filename, yaml, { worker: false });
    env = { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath };
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  const startWithCallInFlight = async (extraEnv: Record<string, string> = {}) => {
    const worker = spawnCli(['worker'], { ...env, ...extraEnv });
    const before = receiver.to('/hang').length;
    await h.post(makeEvent());
    await receiver.waitFor(before + 1, '/hang');
    return worker;
  };

  it('exits 1 at once on a second signal', async () => {
    const worker = await startWithCallInFlight();
    worker.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(worker.exitCode).toBeNull(); // still waiting for the call in flight
    const started = Date.now();
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(worker.output()).toContain('second signal: exiting now');
  });

  it('SIGHUP (sent to apply a changed policies file) stops it gracefully too, not mid-request', async () => {
    const worker = await startWithCallInFlight();
    worker.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    expect(worker.exitCode).toBeNull(); // waiting for the call in flight, as for SIGTERM
    expect(worker.signalCode).toBeNull();
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(1);
    expect(worker.output()).toContain('second signal: exiting now');
  });

  it('exits 1 when CALLHOOK_SHUTDOWN_TIMEOUT passes', async () => {
    const worker = await startWithCallInFlight({ CALLHOOK_SHUTDOWN_TIMEOUT: '500ms' });
    const started = Date.now();
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(worker.output()).toContain('shutdown timed out');
  });
});

describe('stopping API and worker in one process', () => {
  it('the worker takes no new call while the API answers a request in flight, and the stop ends once it is answered', async () => {
    const receiver = await new Receiver().start();
    receiver.on('/slow', async () => {
      await new Promise((r) => setTimeout(r, 1500));
      return { status: 200 };
    });
    const yaml = `policies: [{ id: default, apps: [{ name: Slow, url: "${receiver.url}/slow", timeout: 5s }, { name: Fast, url: "${receiver.url}/fast" }] }]`;
    const h = await startHarness(__filename, yaml);
    try {
      const callTest = h.request('POST', '/v1/call-test', { policy: 'default', calling_number: '1', called_number: '2' });
      await receiver.waitFor(1, '/slow');
      const stopped = h.stop();
      await new Promise((r) => setTimeout(r, 300));
      // Queued by another producer while this process stops: it must wait for another worker.
      const late = makeEvent();
      expect(await h.runtime.producer.enqueue([late])).toEqual([{ call_id: late.call_id, status: 'queued' }]);
      expect((await callTest).status).toBe(200);
      const answered = Date.now();
      await stopped;
      expect(Date.now() - answered).toBeLessThan(3000); // not the API's keep-alive timeout (65 s)
      expect(receiver.to('/fast').filter((r) => String(r.headers['idempotency-key']).startsWith(late.call_id))).toHaveLength(0);
    } finally {
      await receiver.stop();
    }
  });
});
