import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeEvent } from '../../src/events/schema';
import type { CallRecord } from '../../src/model/call';
import { CallStore } from '../../src/store/call-store';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { CLI, exited, spawnCli } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('results for downstream apps: list and search, the feed, export', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let configPath: string;
  const release: (() => void)[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/missing', () => ({ status: 404 }));
    receiver.on('/hang', () => new Promise((resolve) => release.push(() => resolve({ status: 200 }))));
    const yaml = `
policies:
  - id: sales
    match: { called_number: "^1" }
    apps:
      - { name: CRM, url: "${receiver.url}/crm" }
  - id: support
    match: { called_number: "^2" }
    apps:
      - { name: CRM, url: "${receiver.url}/crm" }
      - { name: Ticket, url: "${receiver.url}/missing", retry_count: 0 }
  - id: broken
    match: { called_number: "^3" }
    apps:
      - { name: Ticket, url: "${receiver.url}/missing", retry_count: 0 }
  - id: slow
    match: { called_number: "^4" }
    apps:
      - { name: Hang, url: "${receiver.url}/hang" }
  - id: rt
    match: { called_number: "^5" }
    apps:
      - { name: Caller, phase: real_time, url: "${receiver.url}/crm" }
`;
    configPath = join(mkdtempSync(join(tmpdir(), 'callhook-results-')), 'policies.yaml');
    writeFileSync(configPath, yaml);
    h = await startHarness(__filename, yaml);
  });
  afterAll(async () => {
    for (const go of release) go();
    await h.stop();
    await receiver.stop();
  });

  const list = async (query: string) => {
    const answer = await h.request('GET', `/v1/calls${query}`);
    if (answer.status !== 200) throw new Error(`GET /v1/calls${query}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as { calls: { call_id: string; status: string; policy: string | null; calling_number: string; apps: Record<string, string> }[]; next_cursor: string | null };
  };
  const run = async (events: ReturnType<typeof makeEvent>[]) => {
    await h.post(events);
    for (const event of events) await h.waitForCall(event.call_id);
  };

  it('lists every call newest first by last change, with each app\'s status, and filters by status, policy and number', async () => {
    const tag = `l${Date.now()}`;
    const events = [
      makeEvent({ call_id: `${tag}-sales`, called_number: '1000', calling_number: '+1 (555) 010-0100' }),
      makeEvent({ call_id: `${tag}-support`, called_number: '2000', calling_number: '15550100100' }),
      makeEvent({ call_id: `${tag}-broken`, called_number: '3000', calling_number: '+44 20 7946 0000' }),
      makeEvent({ call_id: `${tag}-none`, called_number: '9000', calling_number: 'anonymous' }),
    ];
    for (const event of events) await run([event]); // one after the other: distinct last-change times
    const slow = makeEvent({ call_id: `${tag}-slow`, called_number: '4000' });
    await h.post(slow);
    await receiver.waitFor(1, '/hang');
    const mine = (calls: { call_id: string }[]) => calls.map((c) => c.call_id).filter((id) => id.startsWith(tag));

    const all = await list('?limit=500');
    expect(mine(all.calls)).toEqual([`${tag}-slow`, `${tag}-none`, `${tag}-broken`, `${tag}-support`, `${tag}-sales`]);
    expect(all.calls.find((c) => c.call_id === `${tag}-support`)).toEqual({
      call_id: `${tag}-support`, policy: 'support', status: 'partial', calling_number: '15550100100', called_number: '2000',
      created_at: expect.any(String), finished_at: expect.any(String), apps: { crm: 'success', ticket: 'failed' },
    });
    expect(mine((await list('?status=failed&limit=500')).calls)).toEqual([`${tag}-broken`]);
    expect(mine((await list('?status=failed,partial&limit=500')).calls)).toEqual([`${tag}-broken`, `${tag}-support`]);
    expect(mine((await list('?status=failed&status=unmatched&limit=500')).calls)).toEqual([`${tag}-none`, `${tag}-broken`]);
    // Its one request is in flight: nothing written yet, its job held by the worker.
    expect(mine((await list('?status=running&limit=500')).calls)).toEqual([`${tag}-slow`]);
    expect((await h.get(slow.call_id))?.status).toBe('running');
    expect(mine((await list('?status=queued&limit=500')).calls)).toEqual([]);
    expect(mine((await list('?policy=support&limit=500')).calls)).toEqual([`${tag}-support`]);
    expect(mine((await list('?policy=support&status=completed&limit=500')).calls)).toEqual([]);
    // By digits: the same number written two ways, and a number without digits.
    expect(mine((await list(`?number=${encodeURIComponent('+1 (555) 010-0100')}&limit=500`)).calls)).toEqual([`${tag}-support`, `${tag}-sales`]);
    expect(mine((await list('?number=15550100100&status=completed')).calls)).toEqual([`${tag}-sales`]);
    expect(mine((await list('?number=Anonymous')).calls)).toEqual([`${tag}-none`]);
    expect(mine((await list('?number=1000')).calls)).toEqual([`${tag}-sales`]); // the called number too

    for (const go of release.splice(0)) go();
    await h.waitForCall(slow.call_id);
    expect(mine((await list('?status=completed&limit=500')).calls).slice(0, 1)).toEqual([`${tag}-slow`]); // its finish is its newest change
  });

  it('since and until take ISO 8601 times or durations', async () => {
    const before = new Date().toISOString();
    await sleep(20);
    const event = makeEvent({ called_number: '1001' });
    await run([event]);
    const ids = async (q: string) => (await list(q)).calls.map((c) => c.call_id);
    expect(await ids(`?since=${before}`)).toEqual([event.call_id]);
    expect(await ids(`?until=${before}&limit=500`)).not.toContain(event.call_id);
    expect(await ids('?since=5s&limit=500')).toContain(event.call_id);
  });

  it('pages with an opaque cursor: no call twice, none missing, while new calls arrive', async () => {
    const tag = `p${Date.now()}`;
    const first = Array.from({ length: 23 }, (_, i) => makeEvent({ call_id: `${tag}-a${String(i).padStart(2, '0')}`, called_number: '1002' }));
    await run(first);
    const expected = (await list('?policy=sales&limit=500')).calls.map((c) => c.call_id).filter((id) => id.startsWith(tag));
    expect(expected).toHaveLength(23);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`?policy=sales&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.calls.map((c) => c.call_id).filter((id) => id.startsWith(tag)));
      cursor = page.next_cursor;
      if (pages++ === 1) await run(Array.from({ length: 9 }, (_, i) => makeEvent({ call_id: `${tag}-b${i}`, called_number: '1002' }))); // newer: not in later pages
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    // The newer ones head the next listing from the top.
    expect((await list('?policy=sales&limit=9')).calls.map((c) => c.call_id).sort()).toEqual(Array.from({ length: 9 }, (_, i) => `${tag}-b${i}`).sort());
  });

  it('bad filters answer 400 with the parameter in each problem', async () => {
    const problems = async (q: string) => {
      const answer = await h.request('GET', `/v1/calls${q}`);
      expect([answer.status, answer.body.error.code]).toEqual([400, 'CALLHOOK_BAD_REQUEST']);
      return answer.body.error.problems as string[];
    };
    expect(await problems('?status=done')).toEqual(['status: "done": use queued, running, completed, partial, failed, unmatched']);
    // An empty status is a mistake like any other empty parameter, not a filter that matches every call.
    for (const status of ['', ',', 'completed,', '%20']) expect(await problems(`?status=${status}`)).toEqual(['status: "": use queued, running, completed, partial, failed, unmatched']);
    expect(await problems('?status=completed&status=')).toEqual(['status: "": use queued, running, completed, partial, failed, unmatched']);
    expect(await problems('?since=yesterday')).toEqual(['since: "yesterday" is not an ISO 8601 time or a duration such as 1h or 7d']);
    expect(await problems('?since=2026-02-30T00:00:00Z')).toEqual(['since: "2026-02-30T00:00:00Z" is not an ISO 8601 time or a duration such as 1h or 7d']);
    // A number alone was read as ms back from now: an epoch-ms `until` answered no calls, a compact date was 5.6 hours ago.
    const numberAlone = (value: string) => `"${value}" is a number alone: give a duration back from now its unit (30m, 1h, 7d), or a time as ISO 8601 (2026-11-29 or 2026-11-29T10:00:00Z)`;
    expect(await problems('?until=1764400000000')).toEqual([`until: ${numberAlone('1764400000000')}`]);
    expect(await problems('?since=20261201')).toEqual([`since: ${numberAlone('20261201')}`]);
    expect((await problems('?limit=0&cursor=abc'))).toEqual([expect.stringMatching(/^limit: /), 'cursor: is not a cursor this API gave out']);
    expect(await problems('?limit=501')).toEqual([expect.stringMatching(/^limit: /)]);
    for (const limit of ['0x10', '1e2', '%2016', '', '2.5']) expect(await problems(`?limit=${limit}`)).toEqual([expect.stringMatching(/^limit: /)]);
    expect((await h.request('GET', '/v1/calls?limit=0016')).status).toBe(200);
    expect((await h.request('GET', '/v1/results?limit=0x10')).status).toBe(400);
    expect(await problems('?policy=Sales!')).toEqual(['policy: is not a policy id']);
    expect(await problems('?state=failed')).toEqual(['(root): unknown parameter state']);
  });

  it('the results feed: one entry per final status, the whole call, in finish order; a long poll wakes on the next one', async () => {
    const start = (await h.request('GET', '/v1/results?after=0&limit=500')).body;
    const after = start.next_after as string;
    const events = Array.from({ length: 5 }, (_, i) => makeEvent({ called_number: `100${i}` }));
    await run(events);
    const feed = (await h.request('GET', `/v1/results?after=${after}`)).body;
    expect(feed.entries.map((e: { call: { call_id: string } }) => e.call.call_id).sort()).toEqual(events.map((e) => e.call_id).sort());
    for (const entry of feed.entries) {
      expect(entry.id).toMatch(/^\d+-\d+$/);
      expect(entry.call).toEqual(await h.get(entry.call.call_id)); // the call as GET shows it
    }
    const finishedAt = feed.entries.map((e: { call: { finished_at: string } }) => Date.parse(e.call.finished_at));
    expect(finishedAt).toEqual([...finishedAt].sort((a, b) => a - b));

    // Nothing new: a long poll waits, then answers empty at its deadline.
    const t0 = Date.now();
    const empty = (await h.request('GET', `/v1/results?after=${feed.next_after}&wait=700ms`)).body;
    expect(empty).toEqual({ entries: [], next_after: feed.next_after });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(650);
    // A call finishing during the poll ends it at once.
    const waiting = h.request('GET', `/v1/results?after=${feed.next_after}&wait=20s`);
    await sleep(200);
    const late = makeEvent({ called_number: '1009' });
    const t1 = Date.now();
    await h.post(late);
    const woke = (await waiting).body;
    expect(woke.entries.map((e: { call: { call_id: string } }) => e.call.call_id)).toEqual([late.call_id]);
    expect(Date.now() - t1).toBeLessThan(5000);
    expect((await h.request('GET', '/v1/results?after=nope')).status).toBe(400);
    // Past what a stream id holds: a 400 naming `after`, not Redis's error as a 500.
    for (const after of ['18446744073709551616-0', '1-18446744073709551616']) {
      expect((await h.request('GET', `/v1/results?after=${after}`)).body.error.problems).toEqual(['after: is not a feed entry id (such as 1764400000000-0)']);
    }
    expect((await h.request('GET', '/v1/results?after=18446744073709551615-18446744073709551615')).body).toMatchObject({ entries: [] });
    expect((await h.request('GET', '/v1/results?wait=2m')).body.error.problems).toEqual(['wait: "2m" is over 60s']);
    // A number alone is refused, as `since` refuses one: read as ms, `wait=5` answered at once, and a client polled in a busy loop.
    expect((await h.request('GET', '/v1/results?wait=5')).body.error.problems).toEqual(['wait: "5" is a number alone: give it its unit (30s, 500ms, 1m)']);
    expect((await h.request('GET', '/v1/results?wait=soon')).body.error.problems).toEqual(['wait: "soon" is not a duration such as 30s (a number with ms, s or m; at most 60s)']);
  });

  it('long polls wait together, and a client that goes away ends its wait', async () => {
    const waiter = h.runtime.feed.waiter!;
    const after = (await h.request('GET', '/v1/results?after=0&limit=500')).body.next_after as string;
    const leaving = Array.from({ length: 30 }, () =>
      fetch(`${h.baseUrl}/v1/results?after=${after}&wait=20s`, { signal: AbortSignal.timeout(200) }).catch((error: Error) => error.name),
    );
    const staying = Array.from({ length: 5 }, () => h.request('GET', `/v1/results?after=${after}&wait=20s`));
    await sleep(100);
    expect(waiter.size).toBe(35);
    expect(await Promise.all(leaving)).toEqual(leaving.map(() => 'TimeoutError'));
    await sleep(100);
    expect(waiter.size).toBe(5);
    const late = makeEvent({ called_number: '1008' });
    await h.post(late);
    for (const answer of await Promise.all(staying)) expect(answer.body.entries.map((e: { call: { call_id: string } }) => e.call.call_id)).toEqual([late.call_id]);
    expect(waiter.size).toBe(0);
  });

  it('a replay\'s new final status and a real-time-only call are in the feed too', async () => {
    const after = (await h.request('GET', '/v1/results?after=0&limit=500')).body.next_after as string;
    receiver.sequence('/missing', [{ status: 404 }, { status: 200 }]);
    const failing = makeEvent({ called_number: '3001' });
    await run([failing]);
    await h.request('POST', `/v1/calls/${failing.call_id}/replay`);
    const deadline = Date.now() + 10_000;
    let statuses: string[] = [];
    while (Date.now() < deadline && statuses.length < 2) {
      const entries = (await h.request('GET', `/v1/results?after=${after}&limit=500`)).body.entries as { call: { call_id: string; status: string } }[];
      statuses = entries.filter((e) => e.call.call_id === failing.call_id).map((e) => e.call.status);
      await sleep(50);
    }
    expect(statuses).toEqual(['failed', 'completed']);
    receiver.on('/missing', () => ({ status: 404 }));

    const rt = makeEvent({ called_number: '5000' });
    expect((await h.request('POST', '/v1/realtime', rt)).body.stored).toBe(true);
    const entries = (await h.request('GET', `/v1/results?after=${after}&limit=500`)).body.entries as { call: { call_id: string; status: string; app_data: object } }[];
    expect(entries.find((e) => e.call.call_id === rt.call_id)?.call).toMatchObject({ status: 'completed', app_data: { caller: { status: 'success' } } });
  });

  it('npx callhook calls, results and export read the same from Redis', async () => {
    const tag = `c${Date.now()}`;
    const hostile = makeEvent({ call_id: `${tag}-x`, called_number: '3005', calling_number: '=HYPERLINK("http://evil.example","x")' });
    const plain = makeEvent({ call_id: `${tag}-y`, called_number: '1005', calling_number: '+1 (555) 010-0199' });
    const escapes = makeEvent({ call_id: `${tag}-z`, called_number: '1077', calling_number: '\u001b]0;PWNED\u0007\u001b[2J\u202e5551' });
    await run([hostile, plain, escapes]);
    const env = { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath };
    const cli = async (args: string[]) => {
      const child = spawnCli(args, env);
      const code = await exited(child);
      return { code, output: child.output() };
    };
    const table = await cli(['calls', '--number', '+1 (555) 010-0199']);
    expect(table.code).toBe(0);
    expect(table.output).toMatch(new RegExp(`${tag}-y\\s+completed\\s+sales\\s+\\+1 \\(555\\) 010-0199 → 1005 .* crm:success`));
    // A number is caller-controlled: it reaches the terminal as text, never as a control sequence.
    const shown = (await cli(['calls', '--number', '1077'])).output;
    expect(shown).toContain(`${tag}-z`);
    expect(shown).toContain('\\u001b]0;PWNED\\u0007\\u001b[2J\\u202e5551 → 1077');
    expect(shown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e]/);
    const json = JSON.parse((await cli(['calls', '--status', 'failed', '--json', '--limit', '500'])).output) as { calls: { call_id: string }[] };
    expect(json.calls.map((c) => c.call_id)).toContain(`${tag}-x`);
    expect((await cli(['calls', '--status', 'nope'])).output).toMatch(/--status: "nope": use queued/);
    expect(await cli(['calls', '--status', ''])).toEqual({ code: 1, output: expect.stringMatching(/--status: "": use queued/) });
    // A typo in a filter is an error, not an empty answer that looks like no calls.
    for (const args of [['export', '--since', '1h', '--status', 'Completed'], ['results', '--status', 'bogus']]) {
      const refused = await cli(args);
      expect([refused.code, refused.output]).toEqual([1, expect.stringMatching(/--status: "(Completed|bogus)": use queued/)]);
    }
    expect((await cli(['results', '--after', '18446744073709551616-0'])).output).toMatch(/--after 18446744073709551616-0: expected a feed entry id/);
    for (const args of [['calls', '--since', '20261201'], ['export', '--since', '20261201'], ['export', '--since', '1d', '--until', '1764400000000'], ['replay', '--failed', '--since', '3600000']]) {
      expect(await cli(args)).toEqual({ code: 1, output: expect.stringMatching(/^callhook: --(since|until): "\d+" is a number alone: give a duration back from now its unit \(30m, 1h, 7d\), or a time as ISO 8601/) });
    }

    // A consumer named for one run leaves the group when it ends; a named one stays.
    for (const args of [['--consumer', 'nightly'], [], []]) expect((await cli(['results', '--group', 'cron', ...args])).code).toBe(0);
    const { redis } = h.runtime;
    const key = h.runtime.feed.key;
    expect(((await redis.xinfo('CONSUMERS', key, 'cron')) as unknown[][]).map((c) => c[1])).toEqual(['nightly']);
    // One with entries still pending is kept: they would be lost with it.
    await redis.xgroup('SETID', key, 'cron', '0');
    await redis.xreadgroup('GROUP', 'cron', 'held', 'COUNT', 1, 'STREAMS', key, '>');
    expect(await h.runtime.feed.leaveGroup('cron', 'held')).toBe(false);
    const pending = (await redis.xpending(key, 'cron', '-', '+', 10, 'held')) as [string][];
    await h.runtime.feed.ack('cron', pending.map(([id]) => id));
    expect(await h.runtime.feed.leaveGroup('cron', 'held')).toBe(true);

    const results = await cli(['results', '--status', 'failed']);
    const lines = results.output.trim().split('\n').map((l) => JSON.parse(l) as { id: string; call: { call_id: string; status: string } });
    expect(lines.every((l) => l.call.status === 'failed')).toBe(true);
    expect(lines.map((l) => l.call.call_id)).toContain(`${tag}-x`);

    const dir = mkdtempSync(join(tmpdir(), 'callhook-export-'));
    expect((await cli(['export', '--since', '1h', '--format', 'csv', '--out', join(dir, 'calls.csv')])).code).toBe(0);
    const csv = readFileSync(join(dir, 'calls.csv'), 'utf8').split('\r\n');
    expect(csv[0]).toBe('call_id,policy,status,calling_number,called_number,created_at,finished_at,app,app_status,http_status,attempts,duration_ms,error_code,error_message,message');
    expect(csv.find((l) => l.startsWith(`${tag}-x,`))).toMatch(new RegExp(`^${tag}-x,broken,failed,"'=HYPERLINK\\(""http://evil.example"",""x""\\)",3005,.*,ticket,failed,404,1,\\d+,CALLHOOK_HTTP_STATUS,HTTP 404,HTTP 404$`));
    expect(csv.find((l) => l.startsWith(`${tag}-y,`))).toMatch(/,'\+1 \(555\) 010-0199,1005,/); // arithmetic to a spreadsheet
    // An output that cannot be written is an error message, not a stack trace or a hang.
    expect(await cli(['export', '--since', '1h', '--out', join(dir, 'missing', 'calls.csv')])).toEqual({ code: 1, output: expect.stringMatching(/^callhook: --out \S+missing\/calls\.csv: ENOENT: no such file or directory/) });
    expect(await cli(['export', '--since', '1h', '--format', 'csv', '--out', '/dev/full'])).toEqual({ code: 1, output: expect.stringMatching(/^callhook: ENOSPC: no space left on device/) });
    const ndjson = await cli(['export', '--since', '1h', '--status', 'completed']);
    const exported = ndjson.output.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { call_id: string; status: string });
    expect(exported.every((c) => c.status === 'completed')).toBe(true);
    expect(exported.map((c) => c.call_id)).toContain(`${tag}-y`);
    expect(exported.find((c) => c.call_id === `${tag}-y`)).toEqual(await h.get(`${tag}-y`));
  });

  it('a stdout that cannot be written (> /dev/full) ends calls, results and export with one line, exit 1', async () => {
    await run([makeEvent({ called_number: '1005' })]);
    for (const args of [['results'], ['export', '--since', '1h'], ['export', '--since', '1h', '--format', 'csv'], ['calls', '--json']]) {
      const full = openSync('/dev/full', 'w');
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, LOG_LEVEL: 'warn', REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath },
        stdio: ['ignore', full, 'pipe'],
      });
      closeSync(full);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      expect([await exited(child), stderr]).toEqual([1, 'callhook: stdout: ENOSPC: no space left on device, write\n']);
    }
  });

  it('to a terminal, export (CSV and NDJSON), results and calls --json write call data\'s control characters as escapes; to a pipe, exactly', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    // OSC 52 (write the clipboard), clear the screen, a C1 CSI (U+009B), a right-to-left override, a line separator.
    const evil = '\u001b]52;c;ZXZpbA==\u0007\u001b[2J\u009b2J\u202e\u2028';
    const event = makeEvent({ called_number: '1099', calling_number: `5550100${evil}`, calling_name: `Eve${evil}` });
    await run([event]);
    const env = { ...process.env, LOG_LEVEL: 'warn', REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath };
    /** The CLI with its stdout on a pseudo-terminal (util-linux `script`), as a person runs it. */
    const inTerminal = async (args: string[]) => {
      const command = [process.execPath, CLI, ...args].map((word) => `'${word}'`).join(' ');
      // The pseudo-terminal takes stderr too ("1 call(s) exported").
      const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      expect(await exited(child)).toBe(0);
      return output.replace(/\r\n/g, '\n'); // the terminal's own line ends
    };
    const piped = async (args: string[]) => {
      const child = spawnCli(args, env as Record<string, string>);
      expect(await exited(child)).toBe(0);
      return child.output();
    };
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
    const escaped = '5550100\\u001b]52;c;ZXZpbA==\\u0007\\u001b[2J\\u009b2J\\u202e\\u2028';

    const csv = await inTerminal(['export', '--since', since, '--format', 'csv']);
    expect(csv).toContain(`${event.call_id},sales,completed,${escaped},1099,`);
    for (const args of [['export', '--since', since], ['results'], ['calls', '--json', '--number', '1099']]) {
      const text = await inTerminal(args);
      expect(text).not.toMatch(raw);
      expect(text).toContain(escaped);
      // Still JSON, with the same values: the escapes are JSON's own.
      const numbers = text.includes('"next_cursor"')
        ? (JSON.parse(text) as { calls: { calling_number: string }[] }).calls.map((c) => c.calling_number)
        : text.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { call?: CallRecord } & CallRecord)).map((c) => (c.call ?? c).event.calling_number);
      expect(numbers).toContain(`5550100${evil}`);
    }
    expect(await inTerminal(['export', '--since', since])).toContain(`Eve${escaped.slice('5550100'.length)}`);
    // To a pipe (or --out) the data stays exact: the characters as the caller sent them.
    expect((await piped(['export', '--since', since, '--format', 'csv'])).split('\r\n').find((line) => line.startsWith(event.call_id))).toContain(`,5550100${evil},1099,`);
    const line = (await piped(['export', '--since', since])).split('\n').find((l) => l.includes(event.call_id))!;
    expect(JSON.parse(line).event).toMatchObject({ calling_number: `5550100${evil}`, calling_name: `Eve${evil}` });
    expect(line).toContain('\u009b');
  });

  it('durations back from now, and export\'s default end, are by Redis\'s clock (which scores the indexes), not the host\'s', async () => {
    const event = makeEvent({ called_number: '1011' });
    await run([event]);
    const dir = mkdtempSync(join(tmpdir(), 'callhook-clock-'));
    /** The CLI on a host whose clock is `ms` off. */
    const skewed = async (ms: number, args: string[]) => {
      const preload = join(dir, `skew${ms}.js`);
      writeFileSync(preload, `const real = Date.now; Date.now = () => real() + ${ms};\n`);
      const child = spawnCli(args, { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath, NODE_OPTIONS: `--require ${preload}` });
      expect(await exited(child)).toBe(0);
      return child.output();
    };
    const ahead = 5 * 60_000;
    expect(await skewed(ahead, ['calls', '--since', '1m', '--json', '--limit', '500'])).toContain(event.call_id);
    expect(await skewed(ahead, ['export', '--since', '1m'])).toContain(event.call_id);
    expect(await skewed(-ahead, ['export', '--since', '1h'])).toContain(event.call_id); // until: now
    // The API's clock 5 minutes ahead.
    const real = Date.now;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => real() + ahead);
    try {
      expect((await list('?since=1m&limit=500')).calls.map((c) => c.call_id)).toContain(event.call_id);
    } finally {
      clock.mockRestore();
    }
  });

  it('npx callhook results stops quietly when its reader closes the pipe (| head)', async () => {
    await run([makeEvent({ called_number: '1005' })]);
    const child = spawnCli(['results'], { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: configPath });
    child.stdout!.destroy(); // the reader is gone before the first line
    expect(await exited(child)).toBe(0);
    expect(child.output()).not.toMatch(/EPIPE|Unhandled/);
  });

  it('trims index entries older than the TTL (but queued ones) in every batch and at one single-call write in 16; number indexes expire when idle', async () => {
    const redis = h.runtime.redis;
    const prefix = `${h.prefix}:trim`;
    const ttl = 86_400_000;
    const store = new CallStore(redis, prefix, ttl);
    const idx = (name: string) => `${prefix}:idx:${name}`;
    const old = Date.now() - 2 * ttl;
    for (const name of ['all', 'status:queued', 'status:completed', 'number:1010']) await redis.zadd(idx(name), old, 'ancient');
    const queue = async (...callIds: string[]) => store.markQueued(callIds.map((call_id) => serializeEvent(makeEvent({ call_id, called_number: '1010' }))));
    await queue('t0', 't1');
    for (const name of ['all', 'number:1010']) expect(await redis.zscore(idx(name), 'ancient')).toBeNull();
    // The queued set holds the calls not final yet (their records keep no TTL): never trimmed by age.
    expect(await redis.zscore(idx('status:queued'), 'ancient')).not.toBeNull();
    expect(await redis.pttl(idx('number:1010'))).toBeGreaterThan(ttl); // twice the TTL after a call entered it
    expect(await redis.pttl(idx('status:completed'))).toBe(-1); // one of a few keys: trimmed, never idle for long

    // A finish trims when the clock's millisecond is a multiple of 16 (the clock is set here).
    const clock = jest.spyOn(Date, 'now');
    const finishAt = async (callId: string, ms: number) => {
      clock.mockReturnValue(ms);
      const state = await store.startRun(callId);
      await store.checkpoint(callId, null, undefined, state!.snapshot).finish('completed');
    };
    const base = Math.floor(Date.now() / 16) * 16;
    try {
      await finishAt('t1', base + 1);
      expect(await redis.zscore(idx('status:completed'), 'ancient')).not.toBeNull();
      await queue('t2');
      await finishAt('t2', base + 16);
      expect(await redis.zscore(idx('status:completed'), 'ancient')).toBeNull();
    } finally {
      clock.mockRestore();
    }
    expect((await redis.zrange(idx('status:completed'), 0, -1)).sort()).toEqual(['t1', 't2']);
    expect((await redis.zrange(idx('number:1010'), 0, -1)).sort()).toEqual(['t0', 't1', 't2']);
  });
});
