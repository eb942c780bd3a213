import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { createDemoReceiver } from '../src/demo/receiver';
import { deleteKeysWithPrefix } from '../src/store/delete-prefix';
import { packageRoot } from '../src/version';
import type { CallRecord } from '../src/model/call';
import { loadOrExit } from './cli-support';
import { serve } from './serve';

const EXAMPLE_CALLS = [
  { calling_number: '+15551234567', called_number: '1001', calling_name: 'John Doe' },
  { calling_number: '+15559876543', called_number: '1002', calling_name: "Siobhán O'Brien" },
  { calling_number: '+15550000000', called_number: '1003', calling_name: 'Unknown caller' },
  { calling_number: '+15551234567', called_number: '2000', calling_name: 'John Doe' },
];

/** `callhook demo-receiver`: the demo's stand-in systems on their own (docker-compose runs this). */
export function registerDemo(program: Command): void {
  program
    .command('demo-receiver')
    .description('run the demo receiver (a fake CRM, ticketing, chat and analytics)')
    .option('--port <port>', 'port', '9090')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .action(async (opts: { port: string; host: string }) => {
      const server = createDemoReceiver();
      await new Promise<void>((resolve) => server.listen(Number(opts.port), opts.host, resolve));
      process.stdout.write(`demo receiver on http://${opts.host}:${(server.address() as AddressInfo).port}\n`);
      process.on('SIGTERM', () => server.close(() => process.exit(0)));
    });

  program
    .command('demo')
    .description('a self-contained tour on loopback: demo receiver, callhook, example calls, results')
    .action(runDemo);
}

async function runDemo(): Promise<void> {
  const receiver = createDemoReceiver();
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const prefix = `callhook-demo-${randomBytes(3).toString('hex')}`;
  // The demo's own settings on top of the environment (which is left as it is).
  const env = { ...process.env, DEMO_RECEIVER_URL: receiverUrl, CALLHOOK_PORT: '0', CALLHOOK_PREFIX: prefix, LOG_LEVEL: process.env.LOG_LEVEL ?? 'error' };
  // The demo's own policies, wherever it is run from (an installed package too).
  const loaded = loadOrExit(env, join(packageRoot(), 'config', 'demo.yaml'));
  const { port, stop, runtime } = await serve({ api: true, worker: true, allowPrivateRedis: true, loaded });
  const api = `http://127.0.0.1:${port}`;
  const post = async (path: string, body: unknown) =>
    (await fetch(api + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();

  out(`callhook demo · API ${api} · demo receiver ${receiverUrl} · policies config/demo.yaml\n`);
  const realtime = (await post('/v1/realtime', { ...EXAMPLE_CALLS[0], call_id: 'demo-call-1' })) as { app_data: Record<string, { message: string }> };
  out(`1. Real-time (during call setup): POST /v1/realtime → caller ID "${realtime.app_data['caller-id']?.message}"\n`);

  const events = EXAMPLE_CALLS.map((call, i) => ({ ...call, call_id: `demo-call-${i + 1}` }));
  await post('/v1/calls', events);
  out(`2. Post-call: POST /v1/calls with ${events.length} completed calls; a worker runs each call's policy\n`);
  const records: CallRecord[] = [];
  for (const event of events) records.push(await waitForCall(api, event.call_id));

  out('\n3. Results (GET /v1/calls/:call_id):\n\n');
  const rows: string[][] = [['call', 'from → to', 'policy', 'status', 'app', 'result', 'HTTP', 'tries', 'message']];
  for (const record of records) {
    const apps = Object.entries(record.app_data);
    apps.forEach(([slug, r], i) => {
      const head = i === 0 ? [record.call_id, `${record.event.calling_number} → ${record.event.called_number}`, record.policy ?? '-', record.status] : ['', '', '', ''];
      rows.push([...head, slug, r.status, String(r.http_status ?? '-'), String(r.attempts), r.message]);
    });
  }
  out(table(rows));
  out('\nChat Alert answered 503 on its first try and was retried (tries 2); Ticket and Chat Alert were\nskipped for callers the CRM does not know (their `when` rendered empty).\n');

  // The demo leaves nothing behind in a Redis it may share with real work (a single node:
  // the demo never runs on a cluster).
  await deleteKeysWithPrefix(runtime.redis as Redis, prefix);
  await stop();
  receiver.close();
  process.exit(0);
}

async function waitForCall(api: string, callId: string): Promise<CallRecord> {
  for (let i = 0; i < 300; i++) {
    const response = await fetch(`${api}/v1/calls/${callId}`);
    if (response.ok) {
      const record = (await response.json()) as CallRecord;
      if (!['queued', 'running'].includes(record.status)) return record;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`call ${callId} did not finish within 30 s`);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n') + '\n';
}

function out(text: string): void {
  process.stdout.write(text);
}
