import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './ports';

/**
 * A redis-server of this test's own on a free loopback port, for what the shared one must not
 * be put through: a memory limit, an eviction policy, disabled commands.
 */
export async function startPrivateRedis(args: string[] = [], port?: number): Promise<{ url: string; port: number; pid: number; client: Redis; stop(): Promise<void> }> {
  port ??= await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    const up = await probe.connect().then(() => true, () => false);
    probe.disconnect();
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  return {
    url,
    port,
    pid: child.pid!,
    client,
    async stop() {
      client.disconnect();
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Gone before this resolves: a Redis started next on the same port finds it free.
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/**
 * Writes ballast until Redis refuses even a small write (maxmemory with noeviction); returns the
 * keys written. Big chunks first, then smaller ones: Redis counts a command's own size, so it
 * refuses a big write while it still takes small ones.
 */
export async function fillUntilRefused(client: Redis): Promise<string[]> {
  const keys: string[] = [];
  for (const size of [256 * 1024, 8 * 1024, 256, 16]) {
    const chunk = 'x'.repeat(size);
    for (let refused = false; !refused; ) {
      const key = `ballast:${keys.length}`;
      try {
        await client.set(key, chunk);
        keys.push(key);
      } catch (error) {
        if (!/^OOM/.test((error as Error).message)) throw error;
        refused = true;
      }
      if (keys.length > 1_000_000) throw new Error('Redis never refused a write: is maxmemory set?');
    }
  }
  // Right at the limit, memory Redis frees by itself (client buffers, expired keys) would let a
  // write through again; pin the limit half a megabyte under what is used. Deleting the
  // ballast still brings Redis far below it.
  const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
  await client.config('SET', 'maxmemory', String(used - 512 * 1024));
  return keys;
}
