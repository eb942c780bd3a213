import type { Worker } from 'bullmq';
import pino from 'pino';
import { buildApi, type ApiDeps } from '../../src/api/server';
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
export async function startHarness(
  testFile: string,
  yaml: string,
  options: { worker?: boolean; env?: Record<string, string>; concurrency?: number; redisUrl?: string; prefix?: string; apiToken?: string; timeouts?: ApiDeps['timeouts'] } = {},
) {
  const prefix = options.prefix ?? uniquePrefix(testFile);
  const settings = parseSettings({ REDIS_URL: options.redisUrl ?? redisUrl(), CALLHOOK_PREFIX: prefix, ...options.env });
  const config: CallhookConfig = parseConfig(yaml, options.env ?? {}, 'test');
  const runtime: Runtime = createRuntime(settings, config, silentLogger);
  const api = buildApi({ config, send: runtime.send, producer: runtime.producer, store: runtime.store, replayer: runtime.replayer, logger: silentLogger, metrics: runtime.metrics, apiToken: options.apiToken, timeouts: options.timeouts, ready: () => runtime.store.probeWritable() });
  let worker: Worker | undefined;
  if (options.worker !== false) {
    worker = createCallWorker({
      connection: runtime.redis,
      prefix,
      config,
      store: runtime.store,
      send: runtime.send,
      logger: silentLogger,
      observer: runtime.metrics,
      concurrency: options.concurrency ?? 20,
    });
  }

  await api.listen({ host: '127.0.0.1', port: 0 });
  const address = api.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  /** A real HTTP request to the API (fetch), answering status and parsed JSON. */
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
        return { status: response.status, body: (text ? JSON.parse(text) : undefined) as any };
  };

  const harness = {
    prefix,
    baseUrl,
    request,
    runtime,
    api,
    worker,
    async post(body: unknown) {
      const response = await request('POST', '/v1/calls', body);
      return response as { status: number; body: { calls: { call_id: string; status: string }[]; error?: { code: string; problems: string[] } } };
    },
    async get(callId: string): Promise<CallRecord | undefined> {
      const response = await request('GET', `/v1/calls/${encodeURIComponent(callId)}`);
      return response.status === 200 ? (response.body as CallRecord) : undefined;
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
