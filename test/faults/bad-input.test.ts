import fc from 'fast-check';
import YAML from 'yaml';
import { ConfigError } from '../../src/errors';
import type { AppResult } from '../../src/model/call';
import { parseConfig } from '../../src/policies/load';
import { exited } from '../helpers/processes';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';
import { anyText, badBatch, badEvent, garbledYaml, hostileNames, mutatedPolicies, notJson, validEvent } from './support/bad-input';
import { FINAL, freePort, openJobs, Processes, report, tempDir, waitAllFinal, waitHealthy, writeTemp } from './support/cluster';
import { LedgerReceiver } from './support/ledger';

const SEED = Number(process.env.FAULTS_SEED ?? 20261127);
const PREFIX = uniquePrefix(__filename);

/** A problem line names a path, then says what is wrong: `policies[0].apps[2].url: ...`, `[3].call_id: ...`. */
const PROBLEM_LINE = /^(\(root\)|\[\d+\]|[A-Za-z_][\w-]*)[^\n]*: \S/;

async function post(baseUrl: string, body: string): Promise<{ status: number; json: { error?: { code: string; message: string; problems?: string[] }; calls?: unknown[] } }> {
  const response = await fetch(`${baseUrl}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : {} };
}

/** Runs `task` over `items` with `lanes` requests in flight. */
async function inLanes<T>(items: readonly T[], lanes: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < items.length) await task(items[next++] as T);
  }));
}

/**
 * Bad input, generated: malformed events, batches and bodies POSTed to a real API process,
 * mutated and garbled policies files, and hostile call data sent through a real worker to a
 * receiver that checks each URL, header and body byte for byte.
 */
describe('fault: bad input', () => {
  const processes = new Processes();
  const receiver = new LedgerReceiver();
  let baseUrl = '';
  let api: ReturnType<typeof processes.cli>;
  let worker: ReturnType<typeof processes.cli>;

  beforeAll(async () => {
    await receiver.start();
    const yaml = `
policies:
  - id: default
    apps:
      - name: Carry
        method: POST
        url: "${receiver.url}/hostile/{{ event.caller }}/end"
        query: { name: "{{ event.caller }}", num: "{{ event.calling_number }}" }
        body: { name: "{{ event.caller }}", text: "Caller: {{ event.caller }}!", num: "{{ event.calling_number }}", nested: { list: ["{{ event.caller }}"] }, note: "{{ event.note }}" }
        retry_count: 0
        # A 200 KiB name percent-encoded in the path and the query, and in the body thrice, is
        # several MiB: over the 1 MiB default it would fail unsent, and this checks how it is sent.
        max_request_bytes: 16777216
      - { name: Header, url: "${receiver.url}/header", headers: { X-Caller: "{{ event.caller }}" }, retry_count: 0 }
`;
    const port = await freePort();
    const env = { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: PREFIX, CALLHOOK_CONFIG: writeTemp(tempDir('bad-input'), 'policies.yaml', yaml), CALLHOOK_PORT: String(port) };
    api = processes.cli(['api'], env);
    worker = processes.cli(['worker'], env);
    baseUrl = `http://127.0.0.1:${port}`;
    await waitHealthy(baseUrl, api);
  });

  afterAll(async () => {
    await processes.stopAll();
    await receiver.stop();
    const redis = connectRedis();
    await deletePrefix(redis, PREFIX);
    redis.disconnect();
  });

  it('answers generated malformed events and batches 400 with reasons, queues nothing, stays up', async () => {
    const singles = fc.sample(badEvent, { numRuns: 2000, seed: SEED });
    const batches = fc.sample(badBatch, { numRuns: 500, seed: SEED + 1 });
    const garbage = fc.sample(notJson, { numRuns: 300, seed: SEED + 2 });
    const oversized = [{ ...validEvent(1), calling_name: 'x'.repeat(300 * 1024) }, [validEvent(2), { ...validEvent(3), note: 'y'.repeat(257 * 1024) }]];
    const failures: string[] = [];
    let eventsSent = 0;
    const expect400 = async (body: string, check: (json: Awaited<ReturnType<typeof post>>['json']) => string | undefined) => {
      const { status, json } = await post(baseUrl, body);
      const wrong = status !== 400 ? `status ${status}` : check(json);
      if (wrong && failures.length < 10) failures.push(`${wrong}: ${body.slice(0, 200)} → ${JSON.stringify(json).slice(0, 300)}`);
    };
    const validation = (json: Awaited<ReturnType<typeof post>>['json'], badIndexes?: number[]) => {
      const problems = json.error?.problems;
      if (json.error?.code !== 'CALLHOOK_EVENT_INVALID') return `code ${json.error?.code}`;
      if (!Array.isArray(problems) || problems.length === 0) return 'no problems listed';
      const unnamed = problems.find((p) => typeof p !== 'string' || !PROBLEM_LINE.test(p));
      if (unnamed !== undefined) return `problem without a path: ${JSON.stringify(unnamed)}`;
      if (badIndexes) {
        const named = new Set(problems.map((p) => Number(/^\[(\d+)\]/.exec(p)?.[1] ?? -1)));
        const missed = badIndexes.filter((i) => !named.has(i));
        if (missed.length > 0) return `bad events ${missed.join(',')} not named`;
      }
      return undefined;
    };

    const started = Date.now();
    await inLanes(singles, 8, async (event) => {
      eventsSent += 1;
      await expect400(JSON.stringify(event), (json) => validation(json));
    });
    await inLanes(batches, 8, async ({ items, bad }) => {
      eventsSent += items.length;
      await expect400(JSON.stringify(items), (json) => validation(json, bad));
    });
    // Not JSON: refused by the body parser (a leading BOM is allowed by RFC 8259, so '\ufeff{}' is parsed, then refused as an event).
    await inLanes(garbage, 8, async (text) =>
      expect400(text, (json) => (json.error?.code === 'CALLHOOK_BAD_REQUEST' && json.error.message ? undefined : validation(json))),
    );
    for (const body of oversized) await expect400(JSON.stringify(body), (json) => validation(json));
    await expect400('[]', (json) => (json.error?.problems?.length ? undefined : 'empty batch without a reason'));
    const elapsed = Date.now() - started;

    // Nothing queued, nothing recorded, nothing sent.
    const redis = connectRedis();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    redis.disconnect();
    // An idle worker keeps BullMQ's own bookkeeping (queue meta, stalled-check timer) and the start
    // marks the store's schema version; anything else was written by a request.
    const written = keys.filter((k) => !/:(calls:meta|calls:stalled-check|schema)$/.test(k));
    const jobs = await openJobs(redisUrl(), PREFIX);
    const sent = receiver.deliveries.length;

    // Still up: health, and a valid event is accepted.
    const health = (await fetch(`${baseUrl}/healthz`)).status;
    const valid = await post(baseUrl, JSON.stringify({ ...validEvent(0), call_id: 'still-up-1', calling_name: 'Still Up' }));
    const store = connectRedis();
    const final = await waitAllFinal(store, PREFIX, ['still-up-1'], 20_000);
    store.disconnect();

    const requests = singles.length + batches.length + garbage.length + oversized.length + 1;
    report(
      `bad events: ${requests} malformed requests (${singles.length} events, ${batches.length} batches with ${eventsSent - singles.length} events, ${garbage.length} non-JSON bodies, ${oversized.length} over 256 KiB, 1 empty batch) in ${elapsed} ms, ` +
        `wrong answers ${failures.length}, keys written ${written.length}, jobs queued ${jobs}, receiver requests ${sent}, API up ${api.exitCode === null && health === 200}, valid event after: ${valid.status} → ${final.get('still-up-1')}`,
    );
    expect(failures).toEqual([]);
    expect(written).toEqual([]);
    expect(jobs).toBe(0);
    expect(sent).toBe(0);
    expect(api.exitCode).toBeNull();
    expect(health).toBe(200);
    expect(valid.status).toBe(202);
    expect(final.get('still-up-1')).toBe('completed');
  });

  it('turns malformed policies files into ConfigError problems with paths, never a raw stack', async () => {
    const env = { PRESENT: 'x' };
    let valid = 0;
    let invalid = 0;
    const failures: string[] = [];
    const check = (text: string, what: string) => {
      try {
        parseConfig(text, env, 'policies.yaml');
        valid += 1;
      } catch (error) {
        invalid += 1;
        if (!(error instanceof ConfigError)) {
          failures.push(`${what}: threw ${(error as Error).name}: ${(error as Error).message}`);
          return;
        }
        const bad = error.problems.find((p) => typeof p !== 'string' || !(PROBLEM_LINE.test(p) || p.startsWith('policies.yaml: ')) || /\n\s+at /.test(p));
        if (error.problems.length === 0 || bad !== undefined) failures.push(`${what}: problem without a path: ${JSON.stringify(bad)}`);
      }
    };
    const trees = fc.sample(mutatedPolicies, { numRuns: 2000, seed: SEED + 3 });
    for (const { tree, edits } of trees) check(YAML.stringify(tree), edits.join('; '));
    // Found by this suite: an alias with no anchor made parseConfig throw a raw ReferenceError.
    const crafted = ['policies:\n  - id: *a\n', `a: &a [x, x]\nb: &b [${'*a, '.repeat(20)}*a]\nc: [${'*b, '.repeat(20)}*b]\npolicies: []\n`, '\ufeffpolicies: 1', '%YAML 9.9\n---\npolicies: []', '? [a, b]\n: c\npolicies: []'];
    const texts = [...crafted, ...fc.sample(garbledYaml, { numRuns: 1000, seed: SEED + 4 })];
    for (const text of texts) check(text, `garbled ${JSON.stringify(text.slice(0, 80))}`);

    // The CLI shows the same problems as one line each and exits 1, without a stack trace.
    const dir = tempDir('bad-policies');
    const samples = [...trees.slice(0, 2).map((t) => YAML.stringify(t.tree)), ...texts.slice(0, 3)];
    const cli = await Promise.all(
      samples.map(async (text, i) => {
        const child = processes.cli(['config', 'check', writeTemp(dir, `p${i}.yaml`, text)], {});
        const code = await exited(child);
        return { code, output: child.output() };
      }),
    );
    const cliBad = cli.filter(({ code, output }) => {
      const lines = output.trim().split('\n');
      if (code === 0) return !/: OK \(/.test(output);
      return code !== 1 || lines.some((l) => !l.startsWith('callhook: ') || /^\s+at /.test(l));
    });
    report(`bad policies files: ${trees.length} mutated trees + ${texts.length} garbled texts, ${invalid} refused with ConfigError, ${valid} still valid, other errors or pathless problems ${failures.length}; CLI config check on ${cli.length} of them: exit codes ${cli.map((c) => c.code).join(',')}, raw stacks ${cliBad.length}`);
    expect(failures.slice(0, 10)).toEqual([]);
    expect(invalid).toBeGreaterThan(2000);
    expect(cliBad).toEqual([]);
  });

  it('never lets hostile call data break a URL, a header or a body', async () => {
    const names = [...hostileNames(), ...fc.sample(anyText, { numRuns: 300, seed: SEED + 5 })];
    // The standard fields are capped at 256 characters; `caller`, any other field, carries names up to 200 KiB.
    const events = names.map((name, i) => ({ ...validEvent(i), call_id: `hostile-${i}`, caller: name, calling_name: name.slice(0, 256), calling_number: i % 2 ? name.slice(0, 50) || '0' : '+1 (555) 123-4567', note: `note ${i} "${name.slice(0, 20)}"` }));
    const refused = await post(baseUrl, JSON.stringify({ ...validEvent(0), call_id: 'hostile-too-big', calling_name: 'z'.repeat(300 * 1024) }));
    const ids: string[] = [];
    for (const event of events) {
      const { status, json } = await post(baseUrl, JSON.stringify(event));
      if (status !== 202) throw new Error(`${event.call_id}: ${status} ${JSON.stringify(json).slice(0, 300)}`);
      ids.push(event.call_id);
    }
    const redis = connectRedis();
    const final = await waitAllFinal(redis, PREFIX, ids, 60_000);
    redis.disconnect();

    const broken: string[] = [];
    const counts = { urlBody: 0, dotSegmentRefused: 0, header: 0, headerRefused: 0, headerOmitted: 0, loneSurrogates: 0 };
    const fail = (id: string, what: string) => broken.length < 10 && broken.push(`${id}: ${what}`);
    const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
    const unreserved = /^[A-Za-z0-9\-._~%]*$/;
    for (const event of events) {
      const id = event.call_id;
      const name = event.caller;
      const record = (await (await fetch(`${baseUrl}/v1/calls/${id}`)).json()) as { status: string; app_data: Record<string, AppResult> };
      const carry = receiver.attempts(`${id}.carry`);
      const header = receiver.attempts(`${id}.header`);
      const lone = wellFormed(name) !== name || wellFormed(event.calling_number) !== event.calling_number;

      // URL and body: exactly the name, percent-encoded in one path segment and in the query, verbatim in JSON.
      // A lone surrogate has no UTF-8 form: URLs carry it as U+FFFD (JSON keeps it escaped).
      if (lone) counts.loneSurrogates += 1;
      if (name === '.' || name === '..') {
        // A whole segment of dots would be resolved away by URL parsers: the app fails, nothing is sent.
        if (carry.length !== 0 || record.app_data.carry?.error?.code !== 'CALLHOOK_TEMPLATE_RENDER') fail(id, `dot segment: ${carry.length} carry requests`);
        else counts.dotSegmentRefused += 1;
      } else if (carry.length !== 1) {
        fail(id, `${carry.length} carry requests, result ${JSON.stringify(record.app_data.carry?.error)}`);
      } else {
        const d = carry[0]!;
        const [path = '', query = ''] = d.url.split('?');
        const segments = path.split('/');
        const raw = query.split('&');
        if (segments.length !== 4 || segments[1] !== 'hostile' || segments[3] !== 'end') fail(id, `path split into ${segments.length} segments`);
        else if (!unreserved.test(segments[2] ?? '') || decodeURIComponent(segments[2] ?? '') !== wellFormed(name)) fail(id, 'path segment does not decode to the name');
        if (raw.length !== 2 || !raw.every((pair) => /^(name|num)=/.test(pair) && unreserved.test(pair.slice(pair.indexOf('=') + 1)))) fail(id, `query ${query.slice(0, 80)}`);
        const params = new URLSearchParams(query);
        if (params.get('name') !== wellFormed(name) || params.get('num') !== wellFormed(event.calling_number)) fail(id, 'query does not decode to the name');
        let body: unknown;
        try {
          body = JSON.parse(d.body);
        } catch {
          fail(id, 'body is not JSON');
        }
        const want = { name, text: `Caller: ${name}!`, num: event.calling_number, nested: { list: [name] }, note: event.note };
        if (JSON.stringify(body) !== JSON.stringify(want)) fail(id, 'body differs from the call data');
        counts.urlBody += 1;
      }

      // Header: one X-Caller with the name's UTF-8 bytes; a control character fails the app, nothing sent.
      const control = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/.test(name);
      const injected = receiver.deliveries.some((d) => d.key.startsWith(`${id}.`) && 'x-injected' in d.headers);
      if (injected) fail(id, 'an injected header arrived');
      if (control) {
        if (header.length !== 0 || record.app_data.header?.error?.code !== 'CALLHOOK_TEMPLATE_RENDER') fail(id, `control character: ${header.length} header requests, ${JSON.stringify(record.app_data.header?.error)}`);
        else counts.headerRefused += 1;
      } else if (header.length !== 1) {
        fail(id, `${header.length} header requests`);
      } else {
        const values = header[0]!.rawHeaders.filter((_, i, all) => i % 2 === 0 && all[i]?.toLowerCase() === 'x-caller');
        const sent = header[0]!.headers['x-caller'];
        const expected = wellFormed(name).replace(/^[ \t]+|[ \t]+$/g, '');
        if (expected === '' && name.trim() === '') {
          if (values.length !== 0) fail(id, 'blank header was sent');
          else counts.headerOmitted += 1;
        } else if (values.length !== 1 || typeof sent !== 'string' || Buffer.from(sent, 'latin1').toString('utf8') !== expected) {
          fail(id, `header ${values.length}× ${JSON.stringify(sent)?.slice(0, 80)}`);
        } else counts.header += 1;
      }
      const results = Object.values(record.app_data);
      const failed = results.some((r) => r.status === 'failed');
      const want = !failed ? 'completed' : results.some((r) => r.status === 'success') ? 'partial' : 'failed';
      if (record.status !== want) fail(id, `status ${record.status}, expected ${want}`);
    }
    const stuck = [...final.values()].filter((s) => !s || !FINAL.has(s)).length;
    report(
      `hostile call data: ${events.length} calls (${hostileNames().length} crafted incl. 200 KiB names, ${events.length - hostileNames().length} generated), ` +
        `URL+body exact ${counts.urlBody}, dot segments refused ${counts.dotSegmentRefused}, lone surrogates sent as U+FFFD ${counts.loneSurrogates}, header exact ${counts.header}, header refused (control char) ${counts.headerRefused}, blank header omitted ${counts.headerOmitted}, ` +
        `broken ${broken.length}, stuck ${stuck}, 300 KiB name answered ${refused.status}`,
    );
    expect(broken).toEqual([]);
    expect(stuck).toBe(0);
    expect(refused.status).toBe(400);
    expect(worker.exitCode).toBeNull();
  });
});
