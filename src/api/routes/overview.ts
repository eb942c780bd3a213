import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { openCircuits } from '../../delivery/gate';
import { describePolicies } from '../../policies/describe';
import type { CallhookConfig } from '../../policies/types';
import type { CallJobData } from '../../queue/calls-queue';
import { queueStats } from '../../queue/stats';
import type { RedisClient } from '../../store/call-store';
import type { Redactor } from '../../util/redact';

export interface OverviewDeps {
  config: CallhookConfig;
  redactor: Redactor;
  /** The problems `config check` would print for the policies file as it is on disk now (it may have changed since start). */
  checkConfig?: (() => string[]) | undefined;
  queue: Queue<CallJobData>;
  redis: RedisClient;
  prefix: string;
}

/** `GET /v1/policies` (the loaded policies, no secret) and `GET /v1/stats` (the queue and the open circuits now). */
export function registerOverviewRoutes(app: FastifyInstance, deps: OverviewDeps): void {
  app.get('/v1/policies', async () => ({
    source: deps.config.source,
    policies: describePolicies(deps.config, deps.redactor),
    problems: deps.checkConfig?.() ?? [],
  }));
  app.get('/v1/stats', async () => {
    const [queue, circuits] = await Promise.all([queueStats(deps.queue, deps.redis, deps.prefix), openCircuits(deps.redis, deps.prefix)]);
    return { queue, circuits };
  });
}
