import { createHash } from 'node:crypto';
import { destinationOf } from '../policies/compile';
import type { CircuitRule, WebhookApp } from '../policies/types';
import { GO, type Admission, type DeliveryGate, type GateRequest } from '../pipeline/gate';
import type { RedisClient } from '../store/call-store';
import type { TemplateScope } from '../templates/engine';
import { renderField } from '../templates/request';
import type { AttemptOutcome } from '../webhook/retry-policy';
import { CIRCUIT_ADMIT, CIRCUIT_FORGET, CIRCUIT_RECORD, PAUSE, TAKE_SLOT } from './scripts';

/**
 * A circuit's state as it changes, for logs and metrics, with the app whose outcome changed it
 * (`templatedHost`: its host comes from call data, so metrics name the app rather than the host).
 */
export type CircuitChange = { destination: string; state: 'open' | 'closed'; failures: number; openUntil: number | undefined; policy: string; app: string; templatedHost: boolean };

/** How long idle limit and circuit keys outlive their last use. */
const KEEP_MS = 60 * 60_000;
/** Waiting calls wake spread over this, so that an open period's end is not a thundering herd. */
const SPREAD_MS = 1000;
/** A rendered rate_limit_key longer than this is hashed. */
const MAX_KEY_CHARS = 200;
/** A rate-limit wait up to this long is slept in the worker instead of becoming a delayed job. */
const SHORT_WAIT_MS = 20;
/** A receiver's Retry-After pauses its limit at most this long (the header is the receiver's to set). */
const MAX_PAUSE_MS = 60 * 60_000;
/**
 * While a probe is out, a waiting call looks again after as long as the probe has been out, at
 * least this (and never past the probe's lease): a probe that answers at once lets the calls go
 * soon after it, one that hangs costs each held call a few looks, their gaps doubling, rather
 * than one every second (a backlog of held calls re-ran its jobs hundreds of times a second).
 */
const HALF_OPEN_RECHECK_MS = 500;
/**
 * Destinations a process remembers as failing, at most: hosts from call data (allow_templated_host)
 * must not grow it without end. One forgotten is asked about again after its next failure there.
 */
const MAX_SUSPECTS = 1000;
/** How often a worker reads which circuits are open: while any is, and while none is. */
const REFRESH_MS = 1000;
const IDLE_REFRESH_MS = 5000;
/** How often that read is the full listing, which also takes the expired circuits out of the set. */
const PRUNE_MS = 60_000;

interface Scripts {
  callhookTakeSlot(tat: string, log: string, pause: string, hold: string, intervalMs: number, periodMs: number, count: number, keepMs: number): Promise<number>;
  callhookPause(pause: string, ms: number): Promise<number>;
  callhookCircuitAdmit(circuit: string, set: string, leaseMs: number, destination: string): Promise<[number, 'closed' | 'open' | 'half_open' | 'probe', number?]>;
  callhookCircuitRecord(circuit: string, set: string, ok: 0 | 1, threshold: number, openMs: number, destination: string, keepMs: number): Promise<[string, number, number]>;
}

/**
 * Rate limits and circuit breakers, shared by every worker through Redis.
 *
 * A circuit costs nothing while its destination answers: each process remembers the circuits it
 * knows to be open (or to have failures counting) and asks Redis only about those, about a call
 * that has already waited for its circuit, or after a failure. A worker reads the open ones from
 * Redis when it starts and then every second or so (watchCircuits), so it holds calls for a
 * circuit another process opened, a restart included, without a Redis command per request.
 * A rate limit costs one Redis round trip per request.
 */
export class RedisDeliveryGate implements DeliveryGate {
  /** Circuits this process has seen fail: open, or with failures counting. Absent: closed. */
  private readonly suspect = new Map<string, { open: boolean }>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly onCircuitChange: (change: CircuitChange) => void = () => undefined,
    private readonly random: () => number = Math.random,
  ) {
    if (!('callhookTakeSlot' in redis)) {
      redis.defineCommand('callhookTakeSlot', { numberOfKeys: 4, lua: TAKE_SLOT });
      redis.defineCommand('callhookPause', { numberOfKeys: 1, lua: PAUSE });
      redis.defineCommand('callhookCircuitAdmit', { numberOfKeys: 2, lua: CIRCUIT_ADMIT });
      redis.defineCommand('callhookCircuitRecord', { numberOfKeys: 2, lua: CIRCUIT_RECORD });
    }
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  async admit(request: GateRequest): Promise<Admission> {
    const { circuit } = request.app;
    const destination = circuit && destinationFor(request.app, request.scope);
    // A call that already waited for this circuit asks Redis even if this process has not seen the
    // destination fail (it started since): the circuit may still be open, or this call the probe.
    if (circuit && destination && (request.waitingSinceMs !== undefined || this.suspect.get(destination)?.open)) {
      const held = await this.circuitAdmission(destination, request, circuit);
      if (held) return held;
    }
    const limit = request.app.rateLimit;
    if (!limit) return GO;
    let keys: ReturnType<RedisDeliveryGate['limitKeys']>;
    try {
      keys = this.limitKeys(request);
    } catch (error) {
      // The app fails, as it would on any template that cannot be rendered (not "call run failed unexpectedly").
      return { kind: 'refuse', code: 'CALLHOOK_TEMPLATE_RENDER', message: (error as Error).message };
    }
    const hold = `${keys.schedule}:hold:${request.callId}:${request.app.slug}`;
    const takeSlot = () => this.scripts.callhookTakeSlot(keys.tat, keys.log, keys.pause, hold, limit.intervalMs, limit.periodMs, limit.count, KEEP_MS);
    let waitMs = await takeSlot();
    // A slot a few ms away (a high limit, a burst of calls) is waited for here: a delayed job
    // would cost more than the wait. The call keeps its slot, so it goes when it asks again.
    for (let tries = 0; waitMs > 0 && waitMs <= SHORT_WAIT_MS && tries < 3; tries++) {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      waitMs = await takeSlot();
    }
    return waitMs > 0 ? { kind: 'wait', delayMs: waitMs, reason: 'rate_limit', message: `rate_limit ${limit.count} per ${limit.periodMs / 1000} s` } : GO;
  }

  async settle(request: GateRequest, outcome: AttemptOutcome): Promise<void> {
    const limit = request.app.rateLimit;
    if (limit && outcome.kind === 'response' && outcome.status === 429 && outcome.retryAfterMs) {
      await this.scripts.callhookPause(this.limitKeys(request).pause, Math.ceil(Math.min(outcome.retryAfterMs, MAX_PAUSE_MS)));
    }
    const { circuit } = request.app;
    const destination = circuit && destinationFor(request.app, request.scope);
    if (!circuit || !destination) return;
    // An OAuth2 token endpoint failing (code `oauth`) says nothing about the webhook's destination:
    // the request was never sent there.
    const failed = (outcome.kind === 'network' && outcome.code !== 'oauth') || (outcome.kind === 'response' && outcome.status >= 500);
    const succeeded = outcome.kind === 'response' && outcome.status < 500;
    if (succeeded && request.waitingSinceMs === undefined && !this.suspect.has(destination)) return; // the common case: no Redis at all
    if (!failed && !succeeded) return; // a template or a too-large response says nothing about the destination
    const [state, failures, openUntil] = await this.scripts.callhookCircuitRecord(this.circuitKey(destination), `${this.prefix}:circuits`, failed ? 0 : 1, circuit.failures, circuit.openForMs, destination, KEEP_MS);
    if (state === 'ok' || state === 'closed') this.suspect.delete(destination);
    else this.remember(destination, state === 'open' || state === 'opened');
    const by = { policy: request.policyId, app: request.app.slug, templatedHost: request.app.destination === undefined };
    if (state === 'opened') this.onCircuitChange({ destination, state: 'open', failures, openUntil, ...by });
    if (state === 'closed') this.onCircuitChange({ destination, state: 'closed', failures: 0, openUntil: undefined, ...by });
  }

  /** Undefined when the circuit lets this request through (closed, this request is the probe, or it waited its max). */
  private async circuitAdmission(destination: string, request: GateRequest, circuit: CircuitRule): Promise<Admission | undefined> {
    const { app } = request;
    const now = Date.now();
    const sinceMs = request.waitingSinceMs ?? now;
    const leftMs = circuit.maxWaitMs - (now - sinceMs);
    if (request.canWait && leftMs <= 0) return undefined;
    const [ms, state, probeAgeMs = 0] = await this.scripts.callhookCircuitAdmit(this.circuitKey(destination), `${this.prefix}:circuits`, app.timeoutMs + 1000, destination);
    if (state === 'closed') {
      this.suspect.delete(destination);
      return undefined;
    }
    // Learnt from Redis: this process now asks about it too, and records the probe's outcome.
    this.remember(destination, true);
    if (state === 'probe') return undefined;
    const message = `circuit open for ${destination} (${state === 'open' ? 'failing' : 'a probe is out'})`;
    if (!request.canWait) return { kind: 'refuse', message };
    const delayMs = (state === 'open' ? ms : Math.min(ms, Math.max(HALF_OPEN_RECHECK_MS, probeAgeMs))) + Math.round(this.random() * SPREAD_MS);
    // Never past max_wait (an open_for longer than it): the call then goes, open or not.
    return { kind: 'wait', delayMs: Math.min(delayMs, leftMs), reason: 'circuit_open', message, sinceMs };
  }

  /**
   * Reads the open circuits from Redis now (a worker starting) and then every REFRESH_MS while
   * any is listed, IDLE_REFRESH_MS while none is: one SMEMBERS, off the send path (the full
   * listing, which prunes the set, at start and every PRUNE_MS). Returns the function that stops it.
   */
  watchCircuits(): () => void {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let pruneAt = 0;
    const tick = async () => {
      let anyOpen = false;
      try {
        const prune = Date.now() >= pruneAt;
        if (prune) pruneAt = Date.now() + PRUNE_MS;
        anyOpen = await this.refresh(prune);
      } catch {
        // Redis unreachable: sends fail or wait on their own; the next tick reads again.
      }
      if (!stopped) timer = setTimeout(() => void tick(), anyOpen ? REFRESH_MS : IDLE_REFRESH_MS).unref();
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  /**
   * Marks the circuits Redis lists as open here and forgets those closed since; whether any is
   * listed. The set may still list a circuit that expired: asking about it takes it out (ADMIT).
   * `prune`: read each circuit, and take the expired ones out of the set (openCircuits).
   */
  async refresh(prune = false): Promise<boolean> {
    const listed = prune ? (await openCircuits(this.redis, this.prefix)).map((circuit) => circuit.destination) : await this.redis.smembers(`${this.prefix}:circuits`);
    const open = new Set(listed);
    for (const [destination, known] of this.suspect) if (known.open && !open.has(destination)) this.suspect.delete(destination);
    for (const destination of open) this.remember(destination, true);
    return open.size > 0;
  }

  private remember(destination: string, open: boolean): void {
    // Full: the oldest goes (a Map iterates in insertion order).
    if (this.suspect.size >= MAX_SUSPECTS && !this.suspect.has(destination)) this.suspect.delete(this.suspect.keys().next().value!);
    this.suspect.set(destination, { open });
  }

  private limitKeys(request: GateRequest) {
    const { rateLimitKey, rateLimit } = request.app;
    const custom = rateLimitKey && renderField('rate_limit_key', rateLimitKey, request.scope);
    // A key rendered from call data can be long: Redis gets a digest of it instead.
    const key = custom && custom.length > MAX_KEY_CHARS ? createHash('sha256').update(custom).digest('hex') : custom;
    const base = `${this.prefix}:rl:${key ? `key:${key}` : `app:${request.policyId}.${request.app.slug}`}`;
    // The schedule (next free slot, held slots) names the rate: a limit whose rate changed starts
    // a fresh one for new calls, instead of one a slower rate had left minutes ahead; a call
    // already delayed keeps its wake time, then takes a slot of the new schedule. The log of
    // recent sends and a 429's pause belong to the receiver, whatever the rate: a new rate still
    // counts the sends of the last period, and a pause in force holds.
    const schedule = `${base}:${rateLimit?.count}/${rateLimit?.periodMs}ms`;
    return { schedule, tat: `${schedule}:tat`, log: `${base}:log`, pause: `${base}:pause` };
  }

  private circuitKey(destination: string): string {
    return `${this.prefix}:circuit:${destination}`;
  }
}

/** The app's destination: literal in its URL, or (a templated host) worked out from this call's URL. */
function destinationFor(app: WebhookApp, scope: TemplateScope): string | undefined {
  if (app.destination) return app.destination;
  try {
    return destinationOf(app.url.render(scope));
  } catch {
    return undefined;
  }
}

/** A circuit as `GET /v1/stats` lists it. */
export interface CircuitView {
  destination: string;
  state: 'open' | 'half_open';
  failures: number;
  open_until: string;
}

/**
 * Open and half-open circuits now, for `GET /v1/stats` and the workers (a circuit not listed is
 * closed). A destination whose circuit expired without closing (a host from call data that was
 * never called again) leaves the set here, so the set holds only the circuits open in the last hour.
 */
export async function openCircuits(redis: RedisClient, prefix: string): Promise<CircuitView[]> {
  const set = `${prefix}:circuits`;
  const destinations = await redis.smembers(set);
  if (destinations.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const destination of destinations) pipeline.hgetall(`${prefix}:circuit:${destination}`);
  const rows = ((await pipeline.exec()) ?? []).map(([, value]) => value as Record<string, string>);
  const gone = destinations.filter((_, i) => !rows[i]?.open_until);
  // In a script: a circuit that opens again meanwhile keeps its member.
  if (gone.length > 0) await Promise.all(gone.map((destination) => redis.eval(CIRCUIT_FORGET, 2, `${prefix}:circuit:${destination}`, set, destination)));
  const now = Date.now();
  return destinations.flatMap((destination, i) => {
    const row = rows[i];
    if (!row?.open_until) return [];
    const openUntil = Number(row.open_until);
    return [{ destination, state: openUntil > now ? ('open' as const) : ('half_open' as const), failures: Number(row.failures ?? 0), open_until: new Date(openUntil).toISOString() }];
  });
}
