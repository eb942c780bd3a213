import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { exited, spawnCli } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

const CALLS = 2000;

describe('scaling out: separate worker processes on one Redis', () => {
  it('two workers drain 2,000 calls, each app sent exactly once, one of them stopped by SIGTERM midway', async () => {
    const receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ status: 200, body: { id: 1 } }));
    const yaml = `
policies:
  - id: default
    apps:
      - { name: CRM, url: "${receiver.url}/crm", query: { n: "{{ event.calling_number }}" } }
      - { name: Notify, method: POST, url: "${receiver.url}/notify", body: { id: "{{ app_data.crm.data.id }}" } }
`;
    const configPath = join(mkdtempSync(join(tmpdir(), 'callhook-scale-')), 'policies.yaml');
    writeFileSync(configPath, yaml);
    const h = await startHarness(__filename, yaml, { worker: false });
    const env = { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath, CALLHOOK_CONCURRENCY: '25' };
    const workers = [spawnCli(['worker'], env), spawnCli(['worker'], env)];
    try {
      const events = Array.from({ length: CALLS }, (_, i) => makeEvent({ call_id: `scale-${i}`, calling_number: `+1555${i}` }));
      for (let i = 0; i < CALLS; i += 500) expect((await h.post(events.slice(i, i + 500))).status).toBe(202);

      await receiver.waitFor(CALLS / 4, '/notify', 60_000);
      workers[0]?.kill('SIGTERM');
      expect(await exited(workers[0]!)).toBe(0);

      await receiver.waitFor(CALLS, '/notify', 120_000);
      for (const event of [events[0]!, events[CALLS / 2]!, events[CALLS - 1]!]) expect((await h.waitForCall(event.call_id)).status).toBe('completed');

      for (const path of ['/crm', '/notify']) {
        const keys = receiver.to(path).map((r) => String(r.headers['idempotency-key']));
        expect(keys).toHaveLength(CALLS);
        expect(new Set(keys).size).toBe(CALLS);
      }
      const counts = await h.runtime.queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
      expect(counts).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await h.stop();
      await receiver.stop();
    }
  }, 180_000);
});
