import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { silentLogger } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { parseSettings } from '../../src/settings';
import { resolveRedis } from '../../workers/redis-fallback';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

describe('the embedded default Redis', () => {
  it('starts a private redis-server (append-only) when nothing answers at the default URL', async () => {
    expect(hasRedisServer).toBe(true);
    const port = await freePort();
    // As when REDIS_URL is unset and nothing listens on the default address.
    const settings = { ...parseSettings({}), redisUrl: `redis://127.0.0.1:${port}` };
    const resolved = await resolveRedis(settings, silentLogger, true);
    const client = new Redis(resolved.url);
    try {
      expect(resolved.url).not.toBe(settings.redisUrl);
      expect(await client.ping()).toBe('PONG');
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      client.disconnect();
      await resolved.stop();
    }
  });
});
