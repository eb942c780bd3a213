import { execSync } from 'node:child_process';
import { Redis } from 'ioredis';

/**
 * Finds the Redis the suite runs against: REDIS_URL, else 127.0.0.1:6379, else a Redis
 * testcontainer where a Docker engine exists. Tests read the answer from REDIS_URL.
 */
export default async function globalSetup(): Promise<void> {
  // Every receiver of the suite is on loopback: a proxy from the machine's environment must not
  // carry their requests (the proxy test sets its own, in its own process).
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy']) delete process.env[name];
  const candidates = [process.env.REDIS_URL, 'redis://127.0.0.1:6379'].filter((u): u is string => !!u);
  for (const url of candidates) {
    if (await answers(url)) {
      process.env.REDIS_URL = url;
      return;
    }
  }
  if (!dockerAvailable()) {
    throw new Error('no Redis for the tests: set REDIS_URL, run one on 127.0.0.1:6379, or start a Docker engine');
  }
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  process.env.REDIS_URL = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  (globalThis as { __redisContainer?: unknown }).__redisContainer = container;
}

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function dockerAvailable(): boolean {
  try {
    execSync('docker info', { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
