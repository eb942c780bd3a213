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
