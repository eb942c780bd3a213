import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { silentLogger } from '../helpers/harness';
import { parseSettings } from '../../src/settings';
import { resolveRedis } from '../../workers/redis-fallback';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

describe('the embedded default Redis', () => {
  it('starts a private redis-server (append-only) when nothing answers at the default URL', async () => {
    expect(hasRedisServer).toBe(true);
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
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
