import pino from 'pino';
import type { ApiDeps } from '../../src/api/server';
import { startCallhook } from '../../src/callhook';
import type { CallRecord } from '../../src/model/call';
import { parseConfig } from '../../src/policies/load';
import type { CallhookConfig } from '../../src/policies/types';
import { parseSettings } from '../../src/settings';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from './redis';

export const silentLogger = pino({ level: 'silent' });

export interface HarnessOptions {
  /** Run a worker too. @defaultValue true */
  worker?: boolean;
  /** Environment for settings (CALLHOOK_*) and for `${NAME}` in the policies. */
  env?: Record<string, string>;
  concurrency?: number;
  redisUrl?: string;
  prefix?: string;
  apiToken?: string;
  timeouts?: ApiDeps['timeouts'];
  /** The process's logger, or a function that makes one from the loaded config (to see its secrets). */
  logger?: pino.Logger | ((config: CallhookConfig) => pino.Logger);
}

/**
 * callhook in this process against the real Redis, built by the same composition root as
 * `npm start` (startCallhook): config from YAML text, a unique prefix, the API on a free port
 * and, unless `worker: false`, a worker.
 */
export async function startHarness(testFile: string, yaml: string, options: HarnessOptions = {}) {
  const prefix = options.prefix ?? uniquePrefix(testFile);
  const settings = parseSettings({
    REDIS_URL: options.redisUrl ?? redisUrl(),
    CALLHOOK_PREFIX: prefix,
    CALLHOOK_PORT: '0',
    CALLHOOK_CONCURRENCY: String(options.concurrency ?? 20),
    ...(options.apiToken ? { CALLHOOK_API_TOKEN: options.apiToken } : {}),
    ...options.env,
  });
  const config = parseConfig(yaml, options.env ?? {}, 'test');
  const logger = typeof options.logger === 'function' ? options.logger(config) : (options.logger ?? silentLogger);
  const process_ = await startCallhook(settings, config, logger, { api: true, worker: options.worker !== false, apiTimeouts: options.timeouts });
  const { runtime, api, worker } = process_;
  const baseUrl = `http://127.0.0.1:${process_.port}`;
  const authorization: Record<string, string> = options.apiToken ? { authorization: `Bearer ${options.apiToken}` } : {};

  /** A real HTTP request to the API (fetch), answering status and parsed JSON. */
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: { ...authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    const answer = { status: response.status, body: (text ? JSON.parse(text) : undefined) as any };
    // Kept out of equality checks on the answer.
    return Object.defineProperty(answer, 'headers', { value: response.headers, enumerable: false }) as typeof answer & { headers: Headers };
  };

  const harness = {
    prefix,
    baseUrl,
    request,
    runtime,
    api: api!,
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
    /** Stops; `keepKeys` leaves its Redis keys for a harness started after it on the same prefix. */
    async stop({ keepKeys = false } = {}) {
      await process_.stop();
      if (keepKeys) return;
      const redis = connectRedis();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    },
  };
  return harness;
}
