import { combine, drainBaseline, drainCallhook, type CallhookDrain, type DrainResult } from './drain';
import { opts, record, summary } from './context';
import { median, round } from './lib';

/**
 * Throughput drains, side by side in alternating rounds: callhook against the raw baseline (1
 * and 3 apps per call), and with `--compare <cli>` against another callhook build too.
 */
export async function throughput(): Promise<void> {
  const section = `throughput (drain, concurrency ${opts.concurrency}, 1 worker process)`;
  for (const apps of [1, 3] as const) {
    const n = apps === 1 ? opts.calls : opts.calls3;
    const size = Math.ceil(n / opts.rounds);
    process.stderr.write(`throughput, ${apps} app(s), ${n} calls in ${opts.rounds} rounds...\n`);
    const drain: CallhookDrain = { policy: `bench${apps}`, requestsPerCall: apps };
    const results = await alternate<'baseline' | 'callhook' | 'compared'>({
      baseline: () => drainBaseline(size, apps),
      callhook: () => drainCallhook(size, drain),
      ...(opts.compare ? { compared: () => drainCallhook(size, { ...drain, cli: opts.compare }) } : {}),
    });
    const b = combine(results.baseline!, size);
    const c = combine(results.callhook!, size);
    const what = apps === 1 ? '1 app per call' : '3 apps per call';
    const total = size * opts.rounds;
    record(section, `baseline: BullMQ + axios, ${apps} POST/job`, b.callsPerSecond, 'calls/s', `${total} jobs in ${round(b.seconds, 2)} s`);
    record(section, `callhook, ${what}`, c.callsPerSecond, 'calls/s', `${total} calls in ${round(c.seconds, 2)} s`);
    record(section, `callhook / baseline, ${what}`, c.callsPerSecond / b.callsPerSecond, 'x', 'goal >= 0.9');
    // Each round drains every side once, back to back: the median of the rounds' own ratios is
    // less moved by the machine slowing down or speeding up between rounds.
    const perRound = medianRatio(results.callhook!, results.baseline!);
    record(section, `callhook / baseline, ${what}, median of ${opts.rounds} rounds' ratios`, perRound, 'x');
    summary[`ratio_${apps}app`] = round(c.callsPerSecond / b.callsPerSecond, 3);
    summary[`round_ratio_${apps}app`] = round(perRound, 3);
    if (results.compared) {
      const before = combine(results.compared, size);
      record(section, `compared build, ${what}`, before.callsPerSecond, 'calls/s', opts.compare);
      record(section, `compared build / baseline, ${what}`, before.callsPerSecond / b.callsPerSecond, 'x');
      record(section, `compared build / baseline, ${what}, median of ${opts.rounds} rounds' ratios`, medianRatio(results.compared, results.baseline!), 'x');
      record(section, `callhook / compared build, ${what}`, c.callsPerSecond / before.callsPerSecond, 'x');
      record(section, `worker CPU per call: compared build, ${what}`, before.cpuMsPerCall, 'ms');
      record(section, `Redis CPU per call: compared build, ${what}`, before.redisCpuMsPerCall, 'ms');
      summary[`compared_ratio_${apps}app`] = round(before.callsPerSecond / b.callsPerSecond, 3);
    }
    record(section, `worker CPU per call: baseline, ${apps} POST/job`, b.cpuMsPerCall, 'ms');
    record(section, `worker CPU per call: callhook, ${what}`, c.cpuMsPerCall, 'ms');
    record(section, `Redis CPU per call: baseline, ${apps} POST/job`, b.redisCpuMsPerCall, 'ms');
    record(section, `Redis CPU per call: callhook, ${what}`, c.redisCpuMsPerCall, 'ms');
    if (apps === 1) {
      record(section, 'worker peak RSS: baseline', b.peakRss! / 2 ** 20, 'MiB');
      record(section, 'worker peak RSS: callhook', c.peakRss! / 2 ** 20, 'MiB');
    }
  }
}

/**
 * The delivery controls' cost on the 1-app drain, same rounds as the plain app and the baseline:
 * the app signed (Standard Webhooks), and the app under a rate limit it never reaches (one Redis
 * script per request). The circuit breaker is on in every drain (it costs nothing while the
 * destination answers).
 */
export async function delivery(): Promise<void> {
  const section = `delivery controls (drain, 1 app per call, concurrency ${opts.concurrency})`;
  const size = Math.ceil(opts.calls / opts.rounds);
  process.stderr.write(`delivery: ${opts.calls} calls per variant in ${opts.rounds} rounds...\n`);
  const results = await alternate<'baseline' | 'plain' | 'signed' | 'limited'>({
    baseline: () => drainBaseline(size, 1),
    plain: () => drainCallhook(size, { policy: 'bench1', requestsPerCall: 1 }),
    signed: () => drainCallhook(size, { policy: 'bench1-signed', requestsPerCall: 1 }),
    limited: () => drainCallhook(size, { policy: 'bench1-limited', requestsPerCall: 1 }),
  });
  const b = combine(results.baseline!, size);
  const total = size * opts.rounds;
  record(section, 'baseline: BullMQ + axios, 1 POST/job', b.callsPerSecond, 'calls/s', `${total} jobs`);
  for (const [name, what] of [['plain', 'callhook, 1 app'], ['signed', 'callhook, 1 app signed'], ['limited', 'callhook, 1 app, rate_limit 10000/s (never reached)']] as const) {
    const c = combine(results[name]!, size);
    record(section, what, c.callsPerSecond, 'calls/s', `${total} calls in ${round(c.seconds, 2)} s`);
    record(section, `${what} / baseline`, c.callsPerSecond / b.callsPerSecond, 'x');
    record(section, `worker CPU per call: ${what}`, c.cpuMsPerCall, 'ms');
    record(section, `Redis CPU per call: ${what}`, c.redisCpuMsPerCall, 'ms');
    summary[`delivery_ratio_${name}`] = round(c.callsPerSecond / b.callsPerSecond, 3);
  }
}

/**
 * Every call's one app answered 503 once, then retried 1 ms later: the retry path's cost (a
 * BullMQ delayed job per retry). With `--compare`, the other build drains the same in turn.
 */
export async function retries(): Promise<void> {
  const section = `retries (drain, every call's app fails once and is retried, concurrency ${opts.concurrency})`;
  const size = Math.ceil(opts.retryCalls / opts.rounds);
  process.stderr.write(`retries: ${opts.retryCalls} calls in ${opts.rounds} rounds...\n`);
  const drain: CallhookDrain = { policy: 'bench-retry', requestsPerCall: 2, retried: true };
  const results = await alternate<'callhook' | 'compared'>({
    callhook: () => drainCallhook(size, drain),
    ...(opts.compare ? { compared: () => drainCallhook(size, { ...drain, cli: opts.compare }) } : {}),
  });
  const c = combine(results.callhook!, size);
  record(section, 'callhook, 1 app retried once', c.callsPerSecond, 'calls/s', `${size * opts.rounds} calls, ${round(c.seconds, 2)} s`);
  record(section, 'worker CPU per call: callhook', c.cpuMsPerCall, 'ms');
  record(section, 'Redis CPU per call: callhook', c.redisCpuMsPerCall, 'ms');
  if (results.compared) {
    const before = combine(results.compared, size);
    record(section, 'compared build, 1 app retried once', before.callsPerSecond, 'calls/s', opts.compare);
    record(section, 'callhook / compared build', c.callsPerSecond / before.callsPerSecond, 'x');
    record(section, 'worker CPU per call: compared build', before.cpuMsPerCall, 'ms');
    record(section, 'Redis CPU per call: compared build', before.redisCpuMsPerCall, 'ms');
  }
}

function medianRatio(sides: DrainResult[], baselines: DrainResult[]): number {
  return median(sides.map((side, r) => side.callsPerSecond / baselines[r]!.callsPerSecond));
}

/**
 * Runs each side's drain once per round, rotating which side goes first, so a load spike from
 * elsewhere falls on every side alike.
 */
async function alternate<K extends string>(sides: Partial<Record<K, () => Promise<DrainResult>>>): Promise<Partial<Record<K, DrainResult[]>>> {
  const names = (Object.keys(sides) as K[]).filter((name) => sides[name]);
  const results: Partial<Record<K, DrainResult[]>> = {};
  for (let r = 0; r < opts.rounds; r += 1) {
    const order = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
    for (const name of order) (results[name] ??= []).push(await sides[name]!());
  }
  return results;
}
