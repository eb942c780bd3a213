import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { CDR_TEST_POLICIES, syntheticRows, writeCdrFile } from '../helpers/cdr-generator';
import { CLI, exited } from '../helpers/processes';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';

/**
 * `callhook ingest-cdr --watch` (the systemd unit's command) with CALLHOOK_METRICS_PORT serves
 * /metrics, /healthz and /readyz as a worker does, so the calls it queues are counted where
 * Prometheus can scrape them.
 */
describe('the CDR ingester with CALLHOOK_METRICS_PORT', () => {
  let redis: Redis;
  let dir: string;
  const prefix = uniquePrefix(__filename);

  beforeAll(async () => {
    redis = connectRedis();
    dir = await mkdtemp(join(tmpdir(), 'cdr-metrics-'));
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the calls it queued on /metrics, with health and readiness', async () => {
    await writeFile(join(dir, 'policies.yaml'), CDR_TEST_POLICIES);
    const drop = await mkdtemp(join(dir, 'drop-'));
    const env = { ...process.env, REDIS_URL: redisUrl(), CALLHOOK_PREFIX: prefix, CALLHOOK_CONFIG: join(dir, 'policies.yaml'), CALLHOOK_METRICS_PORT: '0', LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, [CLI, 'ingest-cdr', drop, '--watch', '--settle', '100ms', '--interval', '50ms', '--no-cmr'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      // Port 0: the log line says which port it took.
      const url = await until(() => /"url":"(http:\/\/[^"]+)\/metrics"/.exec(output)?.[1]);
      await writeCdrFile(join(drop, 'cdr_Gen_01_202601010000_1'), syntheticRows(12, 5, 990_000));
      const queued = await until(async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return /^callhook_calls_received_total\{status="queued"\} 12$/m.test(text) ? text : undefined;
      });
      expect(queued).toMatch(/^callhook_redis_ready 1$/m);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    expect(output).not.toMatch(/"level":(50|60)/);
  });
});

async function until<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
