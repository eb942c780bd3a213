import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Settings } from '../src/settings';
import { withoutPassword } from '../src/util/redact';
import { fail } from './fail';

export interface ResolvedRedis {
  url: string;
  stop(): Promise<void>;
}

/** Answers PING within `timeoutMs`? */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  return (await redisProblem(url, timeoutMs)) === undefined;
}

/**
 * Why the Redis at `url` cannot be used: undefined when it answers PING within `timeoutMs`;
 * `refused` when it answered with an error (a wrong or missing password), which a private
 * redis-server must not paper over; else `unreachable`.
 */
export async function redisProblem(url: string, timeoutMs = 1500): Promise<{ kind: 'refused' | 'unreachable'; message: string } | undefined> {
  // For a cluster, its first seed node answering is enough to start.
  const client = new Redis(url.split(',')[0] ?? url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  // connect() rejects with "Connection is closed."; the reason is the error emitted before it.
  let emitted: Error | undefined;
  client.on('error', (error: Error) => (emitted = error));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    const { name, message } = emitted ?? (error as Error);
    const where = withoutPassword(url);
    if (name === 'ReplyError') return { kind: 'refused', message: `Redis at ${where} refused callhook: ${message.split('\n')[0]} (check the user and password in REDIS_URL)` };
    return { kind: 'unreachable', message: `no Redis answers at ${where} (${message.split('\n')[0]})` };
  } finally {
    client.disconnect();
  }
}

/** Exits 1 with one line when the Redis at `url` cannot be used. */
export async function requireRedis(url: string): Promise<void> {
  const problem = await redisProblem(url);
  if (problem) fail(problem.kind === 'refused' ? problem.message : `${problem.message}; start one or set REDIS_URL`);
}

/**
 * The Redis to use: REDIS_URL or 127.0.0.1:6379 when it answers; else, for `start` and `demo`,
 * a private redis-server (data under .callhook/, append-only file on) when one is installed;
 * else exit 1 with one line saying how to get Redis.
 */
export async function resolveRedis(settings: Settings, logger: Logger, allowPrivate: boolean): Promise<ResolvedRedis> {
  const none = { url: settings.redisUrl, stop: async () => undefined };
  const problem = await redisProblem(settings.redisUrl);
  if (!problem) return none;
  if (problem.kind === 'refused') fail(problem.message);
  const hasServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!allowPrivate || !settings.redisUrlDefaulted || !hasServer) {
    fail(`${problem.message}; start one (apt-get install redis-server, or docker run -p 6379:6379 redis:7) or set REDIS_URL`);
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
