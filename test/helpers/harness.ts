import type { Worker } from 'bullmq';
import pino from 'pino';
import { buildApi } from '../../src/api/server';
import { parseConfig } from '../../src/policies/load';
import type { CallhookConfig } from '../../src/policies/types';
import { createCallWorker } from '../../src/queue/worker';
import { createRuntime, type Runtime } from '../../src/runtime';
import { parseSettings } from '../../src/settings';
import type { CallRecord } from '../../src/store/call-store';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from './redis';

export const silentLogger = pino({ level: 'silent' });

/**
 * callhook in this process against the real Redis: config from YAML text, a unique prefix,
 * the Fastify API (driven with inject) and, unless `worker: false`, a worker.
 */
export async function startHarness(testFile: string, yaml: string, options: { worker?: boolean; env?: Record<string, string>; concurrency?: number } = {}) {
  const prefix = uniquePrefix(testFile);
  const settings = parseSettings({ REDIS_URL: redisUrl(), CALLHOOK_PREFIX: prefix, ...options.env });
  const config: CallhookConfig = parseConfig(yaml, options.env ?? {}, 'test');
  const runtime: Runtime = createRuntime(settings, config, silentLogger);
  const api = buildApi({ producer: runtime.producer, store: runtime.store, logger: silentLogger, ping: () => runtime.redis.ping() });
  let worker: Worker | undefined;
  if (options.worker !== false) {
    worker = createCallWorker({
      connection: runtime.redis,
      prefix,
      config,
      store: runtime.store,
      send: runtime.send,
      logger: silentLogger,
      concurrency: options.concurrency ?? 20,
    });
  }

  const harness = {
    prefix,
    runtime,
    api,
    worker,
    async post(body: unknown) {
      const response = await api.inject({ method: 'POST', url: '/v1/calls', payload: body as object });
      return { status: response.statusCode, body: response.json() as { calls: { call_id: string; status: string }[]; error?: { problems: string[] } } };
    },
    async get(callId: string): Promise<CallRecord | undefined> {
      const response = await api.inject({ method: 'GET', url: `/v1/calls/${callId}` });
      return response.statusCode === 200 ? (response.json() as CallRecord) : undefined;
    },
    /** Polls until the call reaches a final status. */
    async waitForCall(callId: string, timeoutMs = 30_000): Promise<CallRecord> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = await harness.get(callId);
        if (record && ['completed', 'partial', 'failed', 'unmatched'].includes(record.status)) return record;
        if (Date.now() > deadline) throw new Error(`call ${callId} not finished: ${JSON.stringify(record)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      await worker?.close();
      await api.close();
      const redis = connectRedis();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      await runtime.close();
    },
  };
  return harness;
}
