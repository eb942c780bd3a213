import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Settings } from '../src/settings';
import { withoutPassword } from '../src/util/redact';

export interface ResolvedRedis {
  url: string;
  stop(): Promise<void>;
}

/** Answers PING within `timeoutMs`? */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  // For a cluster, its first seed node answering is enough to start.
  const client = new Redis(url.split(',')[0] ?? url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * The Redis to use: REDIS_URL or 127.0.0.1:6379 when it answers; else, for `start` and `demo`,
 * a private redis-server (data under .callhook/, append-only file on) when one is installed;
 * else exit 1 with one line saying how to get Redis.
 */
export async function resolveRedis(settings: Settings, logger: Logger, allowPrivate: boolean): Promise<ResolvedRedis> {
  const none = { url: settings.redisUrl, stop: async () => undefined };
  if (await redisAnswers(settings.redisUrl)) return none;
  const hasServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!allowPrivate || !settings.redisUrlDefaulted || !hasServer) {
    process.stderr.write(
      `callhook: no Redis answers at ${withoutPassword(settings.redisUrl)}; start one (apt-get install redis-server, or docker run -p 6379:6379 redis:7) or set REDIS_URL\n`,
    );
    process.exit(1);
  }
  const dir = resolve('.callhook');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await redisAnswers(url, 200)); i++) await new Promise((r) => setTimeout(r, 100));
  logger.warn({ url, dir }, 'no Redis at REDIS_URL or 127.0.0.1:6379: started a private redis-server');
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}
