import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { curriRequest } from '../helpers/cucm';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { startOAuthServer } from '../helpers/oauth-server';
import { freePort } from '../helpers/ports';
import { Receiver } from '../helpers/receiver';
import { metricNames, promtool, sampledNames } from '../helpers/tools';

/**
 * What operators load into Prometheus and Grafana, checked with Prometheus's own tool against a
 * live callhook: its /metrics passes `promtool check metrics`, the alert rules pass `promtool
 * check rules` and their unit tests, and every metric the rules and the dashboard read is one
 * /metrics really serves.
 */
const ROOT = resolve(__dirname, '../..');
const RULES = join(ROOT, 'deploy/prometheus/alerts.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/callhook.json');

function run(args: string[], input?: string) {
  const result = spawnSync(promtool(), args, { input, encoding: 'utf8', cwd: join(ROOT, 'deploy/prometheus'), timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
    templating: { list: { query?: unknown }[] };
  };
  const targets = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => t.expr));
  const variables = dashboard.templating.list
    .map((v) => (typeof v.query === 'object' && v.query ? (v.query as { query?: string }).query : undefined))
    .filter((q): q is string => typeof q === 'string' && q.startsWith('label_values('))
    .map((q) => /^label_values\(([^,]+),/.exec(q)?.[1] ?? q);
  return [...targets, ...variables];
}

function ruleExpressions(): string[] {
  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  return rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
}

describe('Prometheus and Grafana', () => {
  let receiver: Receiver;
  let oauth: Awaited<ReturnType<typeof startOAuthServer>>;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let exposition: string;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    oauth = await startOAuthServer();
    h = await startHarness(__filename, `
policies:
  - id: metered
    apps:
      - { name: CRM, url: "${receiver.url}/crm", auth: { type: oauth2, token_url: "${oauth.tokenUrl}", client_id: callhook-client, client_secret: "\${OAUTH_SECRET}" } }
      - { name: Pager, url: "http://127.0.0.1:${await freePort()}/page", retry_count: 0, circuit: { failures: 1, open_for: 1m } }
`, { env: { OAUTH_SECRET: 'oauth-client-secret-value' } });
    // Traffic on every path that has metrics, so each histogram and labelled counter has samples
    // (the pager is down: its circuit opens).
    const event = makeEvent({ policy: 'metered' });
    await h.post(event);
    await h.waitForCall(event.call_id);
    const curri = await fetch(`${h.baseUrl}/curri`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: curriRequest({ calling: '5550001', called: '2000' }) });
    expect(curri.status).toBe(200);
    exposition = await (await fetch(`${h.baseUrl}/metrics`)).text();
  });
  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
    await oauth?.stop();
  });

  it('promtool check metrics is clean on a live /metrics (no gauge named like a counter)', () => {
    const { status, output } = run(['check', 'metrics'], exposition);
    expect(output).toBe('');
    expect(status).toBe(0);
    expect(exposition).not.toMatch(/^callhook_nodejs_active_\w+_total/m);
    // What the alerts need: workers connected and Redis readiness, read live.
    expect(exposition).toMatch(/^callhook_queue_workers\{queue="calls"\} 1$/m);
    expect(exposition).toMatch(/^callhook_redis_ready 1$/m);
  });

  it('the alert rules pass promtool check rules', () => {
    const { status, output } = run(['check', 'rules', RULES]);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(status).toBe(0);
  });

  it('the alert rules pass their unit tests (promtool test rules alerts.test.yml)', () => {
    const { status, output } = run(['test', 'rules', 'alerts.test.yml']);
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('the rules cover backlog, failures, stuck and given-up calls, OAuth, workers and Redis', () => {
    const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string }[] }[] };
    expect(rules.groups.flatMap((g) => g.rules.map((r) => r.alert))).toEqual(
      expect.arrayContaining(['CallhookBacklogGrowing', 'CallhookHighFailureRatio', 'CallhookCallsStuckRunning', 'CallhookCallsGivenUp', 'CallhookOAuthTokenFailures', 'CallhookNoWorker', 'CallhookRedisNotReady', 'CallhookRedisEvicting']),
    );
  });

  it.each([
    ['alerts.yml', ruleExpressions],
    ['the Grafana dashboard', dashboardExpressions],
  ])('every metric %s reads is served by a live /metrics', (_name, expressions) => {
    const live = sampledNames(exposition);
    const exprs = expressions();
    expect(exprs.length).toBeGreaterThan(5);
    const missing = exprs.flatMap((expr) => metricNames(expr).filter((name) => !live.has(name)).map((name) => `${name} (in ${expr.trim().split('\n')[0]})`));
    expect(missing).toEqual([]);
    for (const expr of exprs) expect(metricNames(expr).length).toBeGreaterThan(0);
  });

  it('reads metric names out of PromQL, not functions, labels or variables', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (le, app) (rate(callhook_app_http_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))')).toEqual(['callhook_app_http_duration_seconds_bucket']);
    expect(metricNames('max by (job) (a_gauge) > 0 unless on (job) sum(increase(b_total[15m])) > 0')).toEqual(['a_gauge', 'b_total']);
    expect(metricNames('absent(callhook_queue_workers)')).toEqual(['callhook_queue_workers']);
  });
});
