/**
 * How much time callhook adds to a real-time app, against a bare keep-alive axios POST to the
 * same receiver, measured in one run with the two interleaved (so drift hits both alike).
 *   npm run bench:realtime -- [--calls 2000] [--warmup 300]
 */
import { performance } from 'node:perf_hooks';
import type { CallEvent } from '../src/model/call';
import { REAL_TIME, runApps } from '../src/pipeline/runner';
import { parseConfig } from '../src/policies/load';
import { Redactor } from '../src/util/redact';
import { closeHttpClient, createHttpClient } from '../src/webhook/http-client';
import { OAuthTokenCache } from '../src/webhook/oauth';
import { HttpSender } from '../src/webhook/send';
import { numberFlag, round, startReceiver, summarize } from './lib';

async function main(): Promise<void> {
  const calls = numberFlag('calls', 2000);
  const warmup = numberFlag('warmup', 300);
  const receiver = await startReceiver();
  const config = parseConfig(`
policies:
  - id: bench
    apps:
      - name: CRM Lookup
        phase: real_time
        method: POST
        url: "${receiver.url}/contacts/{{ event.calling_number }}"
        query: { phone: "{{ event.calling_number }}", source: callhook }
        headers: { X-Caller: "{{ event.calling_name }}" }
        auth: { type: bearer, token: bench-token }
        timeout: 5s
        body: { phone: "{{ event.calling_number }}", called: "{{ event.called_number }}", name: "{{ event.calling_name }}", at: "{{ event.timestamp }}" }
`);
  const policy = config.policies[0]!;
  const callhookHttp = createHttpClient();
  const nowhere = { saveResult: async () => undefined, savePending: async () => undefined, finish: async () => undefined };
  const deps = { sender: new HttpSender(callhookHttp, new OAuthTokenCache(callhookHttp)), redactor: new Redactor(config.secrets), checkpoint: nowhere };
  const bare = createHttpClient();
  const event = (i: number): CallEvent => ({
    call_id: `bench-${i}`, calling_number: '+1 (555) 123-4567', called_number: '1000', calling_name: `O'Brien & Sons ${i}`, timestamp: new Date().toISOString(),
  });
  const bareBody = (i: number) => JSON.stringify({ phone: '+1 (555) 123-4567', called: '1000', name: `O'Brien & Sons ${i}`, at: new Date().toISOString() });
  const bareUrl = `${receiver.url}/contacts/%2B1%20%28555%29%20123-4567?phone=%2B1%20%28555%29%20123-4567&source=callhook`;

  const viaCallhook: number[] = [];
  const viaAxios: number[] = [];
  for (let i = 0; i < warmup + calls; i++) {
    const t0 = performance.now();
    const outcome = await runApps(policy, { event: event(i), results: {}, pending: {} }, REAL_TIME, deps);
    const run = outcome.kind === 'finished' ? outcome.runs[0] : undefined;
    const t1 = performance.now();
    const response = await bare.post(bareUrl, bareBody(i), { headers: { 'Content-Type': 'application/json', Authorization: 'Bearer bench-token' } });
    const t2 = performance.now();
    if (run?.result.status !== 'success' || response.status !== 200) throw new Error('a benchmark request failed');
    if (i >= warmup) {
      viaCallhook.push(t1 - t0);
      viaAxios.push(t2 - t1);
    }
  }
  closeHttpClient(callhookHttp);
  closeHttpClient(bare);
  receiver.stop();

  const c = summarize(viaCallhook);
  const a = summarize(viaAxios);
  const rows = [
    { measure: 'bare axios POST', p50_ms: round(a.p50), p99_ms: round(a.p99), mean_ms: round(a.mean) },
    { measure: 'callhook real-time app', p50_ms: round(c.p50), p99_ms: round(c.p99), mean_ms: round(c.mean) },
    { measure: 'added by callhook', p50_ms: round(c.p50 - a.p50), p99_ms: round(c.p99 - a.p99), mean_ms: round(c.mean - a.mean) },
  ];
  console.log(`real-time app overhead, ${calls} calls after ${warmup} warm-up (target: < 1 ms added at p50, < 3 ms at p99)`);
  console.table(rows);
  console.log(JSON.stringify({ bench: 'realtime', calls, rows }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
