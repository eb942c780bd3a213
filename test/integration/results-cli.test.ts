import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { serializeEvent } from '../../src/events/schema';
import { CallStore } from '../../src/store/call-store';
import { makeEvent } from '../helpers/events';
import { startPrivateRedis } from '../helpers/private-redis';
import { exited, spawnCli } from '../helpers/processes';
import { uniquePrefix } from '../helpers/redis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a CLI process writes, stdout and stderr apart. */
function streams(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return { stdout: () => stdout, stderr: () => stderr };
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * `callhook results` (and the other commands whose stdout is data) as real processes against a
 * Redis of the test's own, which is restarted under them (no persistence: it comes back empty).
 */
describe('callhook results against a Redis that restarts', () => {
  const prefix = uniquePrefix(__filename);
  const configPath = join(mkdtempSync(join(tmpdir(), 'callhook-results-cli-')), 'policies.yaml');
  writeFileSync(configPath, 'policies: []\n');
  const children: ChildProcess[] = [];
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;

  beforeEach(async () => {
    redis = await startPrivateRedis();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await redis.stop();
  });

  const cli = (args: string[]) => {
    const child = spawnCli(args, { REDIS_URL: redis.url, CALLHOOK_PREFIX: prefix, CALLHOOK_CONFIG: configPath, CALLHOOK_RESULT_TTL: '1h' });
    children.push(child);
    return Object.assign(child, streams(child));
  };
  /** Finishes one call on the Redis as it is now: one feed entry. */
  const finishCall = async (callId: string) => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const store = new CallStore(client, prefix, 3_600_000);
      await store.markQueued([serializeEvent(makeEvent({ call_id: callId }))]);
      const state = await store.startRun(callId);
      await store.checkpoint(callId, null, undefined, state!.snapshot).finish('completed');
    } finally {
      client.disconnect();
    }
  };
  const restartRedis = async () => {
    await redis.stop();
    await sleep(1000); // the CLI sees the connection go, and its reconnections refused
    redis = await startPrivateRedis([], redis.port);
  };
  const ndjson = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; call: { call_id: string } });

  it('results --follow: stdout holds only the NDJSON lines; the Redis warnings go to stderr', async () => {
    await finishCall('before-restart');
    const follower = cli(['results', '--follow']);
    await until('the first line', () => follower.stdout().includes('\n'));
    await restartRedis();
    await finishCall('after-restart');
    await until('the second line', () => follower.stdout().split('\n').length > 2);

    const lines = follower.stdout().split('\n').filter(Boolean);
    for (const line of lines) expect(JSON.parse(line)).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), call: expect.any(Object) });
    expect(ndjson(follower.stdout()).map((e) => e.call.call_id)).toEqual(['before-restart', 'after-restart']);
    expect(follower.stderr()).toMatch(/"msg":"redis connection error"/);
  });

  it('results --group --follow: when Redis comes back without its data, the group is created again and the consumer goes on', async () => {
    await finishCall('before-restart');
    const consumer = cli(['results', '--group', 'analytics', '--consumer', 'c1', '--follow']);
    await until('the first line', () => consumer.stdout().includes('\n'));
    await restartRedis();
    await finishCall('after-restart');
    await until('the second line', () => consumer.stdout().split('\n').length > 2 || consumer.exitCode !== null);

    expect(consumer.exitCode).toBeNull();
    expect(ndjson(consumer.stdout()).map((e) => e.call.call_id)).toEqual(['before-restart', 'after-restart']);
    expect(consumer.stderr()).toMatch(/"group":"analytics".*"msg":"the consumer group was gone/);
    // Acknowledged in the group as it is now.
    const client = new Redis(redis.url);
    try {
      for (let i = 0; i < 40 && Number(((await client.xpending(`${prefix}:results`, 'analytics')) as [number])[0]) > 0; i++) await sleep(50);
      expect(((await client.xpending(`${prefix}:results`, 'analytics')) as [number])[0]).toBe(0);
      expect(((await client.xinfo('GROUPS', `${prefix}:results`)) as unknown[][]).map((g) => g[1])).toEqual(['analytics']);
    } finally {
      client.disconnect();
    }
  });
});
