import http from 'node:http';
import { createLogger } from '../../src/logger';
import { startHarness } from '../helpers/harness';
import { cixmlAttribute, CucmClient, curriRequest, readCurriAnswer } from '../helpers/cucm';
import { Receiver } from '../helpers/receiver';

const TOKEN = 'c0ffee4b7e21d3a9f8e6d5c4b3a29187';
const HOSTILE = `O'Brien & Sons <VIP> "Ltd"`;

describe('CURRI: CUCM asks, real-time apps run, the policy decides', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let cucm: CucmClient;
  const logLines: string[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/crm', (req) => {
      const number = new URL(req.url, 'http://x').searchParams.get('n');
      if (number === '5550001') return { status: 200, body: { name: HOSTILE, vip: true } };
      if (number === '5550002') return { status: 200, body: { name: 'Spam Caller', blocked: true } };
      if (number === '5550003') return { status: 200, body: { name: 'Night', route_to: '+1 (555) 999-0000' } };
      if (number === '5550004') return { hang: true };
      if (number === '5550005') return { status: 200, body: { name: 'Late' }, delayMs: 150 };
      if (number === '5550006') return { status: 200, body: { name: 'Too Late' }, delayMs: 700 }; // past the 400 ms CURRI timeout
      return { status: 404, body: { error: 'unknown' } };
    });
    h = await startHarness(__filename, `
policies:
  - id: inbound
    match: { called_number: "^2" }
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", query: { n: "{{ event.calling_number }}" }, timeout: 5s, retry_count: 0 }
      - name: Log
        method: POST
        url: "${receiver.url}/log"
        body: { trigger: "{{ event.trigger_point_type }}", device: "{{ event.calling_devicename }}", name: "{{ app_data.crm.data.name }}" }
    curri:
      action: "{{#if app_data.crm.data.blocked}}reject{{else}}{{#if app_data.crm.data.route_to}}divert{{else}}continue{{/if}}{{/if}}"
      calling_name: "{{ app_data.crm.data.name }}"
      divert_to: "{{ app_data.crm.data.route_to }}"
      greeting: "{{#if app_data.crm.data.vip}}vip-welcome{{/if}}"
  - id: strict
    match: { called_number: "^3" }
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", query: { n: "{{ event.calling_number }}" }, retry_count: 0 }
      - { name: Audit, url: "${receiver.url}/audit" }
    curri: { on_error: reject, post_call: false, calling_name: "{{ app_data.crm.data.name }}" }
  - id: plain
    match: { called_number: "^4" }
    apps:
      - { name: Note, url: "${receiver.url}/note" }
  - id: late
    match: { called_number: "^7" }
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", query: { n: "{{ event.calling_number }}" }, timeout: 5s, retry_count: 0 }
    curri: { on_error: reject, post_call: false, calling_name: "{{ app_data.crm.data.name }}" }
  - id: echo
    match: { called_number: "^5" }
    apps:
      - { name: Note, url: "${receiver.url}/note" }
    curri: { post_call: false, calling_name: "{{ event.calling_number }}", calling_number: "{{ event.calling_number }}", greeting: "{{ event.calling_devicename }}" }
  - id: forward
    match: { called_number: "^6" }
    apps:
      - { name: Note, url: "${receiver.url}/note" }
    curri: { post_call: false, action: divert, divert_to: "{{ event.calling_number }}", on_error: reject }
`, {
      apiToken: TOKEN,
      env: { CALLHOOK_CURRI_TIMEOUT: '400ms' },
      logger: (config) => createLogger({ level: 'debug', secrets: config.secrets, destination: { write: (line: string) => void logLines.push(line) } }),
    });
    cucm = new CucmClient(`${h.baseUrl}/curri?api_key=${TOKEN}`);
  });
  afterAll(async () => {
    cucm.close();
    await h.stop();
    await receiver.stop();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
  });

  const ask = async (call: Parameters<typeof curriRequest>[0]) => {
    const answer = await cucm.request('POST', curriRequest(call));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/xml/);
    return readCurriAnswer(answer.text);
  };

  it('continue, with the caller\'s name from the CRM exactly as the phone must show it, and a greeting', async () => {
    const { decision, cixml } = await ask({ calling: '5550001', called: '2000' });
    expect(decision).toBe('Permit');
    expect(cixml).toMatch(/^<cixml ver="1.0"><continue><modify callingname="[^"]*"\/><greeting identification="vip-welcome"\/><\/continue><\/cixml>$/);
    expect(cixmlAttribute(cixml, 'modify', 'callingname')).toBe(HOSTILE);
  });

  it('reject and divert, decided by templates over the real-time results', async () => {
    expect(await ask({ calling: '5550002', called: '2000' })).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    expect(await ask({ calling: '5550003', called: '2000' })).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><divert><destination>+1 (555) 999-0000</destination></divert></cixml>' });
  });

  it('fails open: an app error, a receiver that hangs past the deadline, unparseable XML all answer continue unchanged', async () => {
    expect(await ask({ calling: '5559999', called: '2000' })).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue></continue></cixml>' }); // CRM 404
    const t0 = Date.now();
    expect(await ask({ calling: '5550004', called: '2000' })).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue></continue></cixml>' });
    expect(Date.now() - t0).toBeLessThan(1200); // the 400 ms deadline, not the app's 5 s timeout
    for (const body of ['<Request><Subject', 'not xml at all', '', '<!DOCTYPE x [<!ENTITY a "b">]><Request/>']) {
      const answer = await cucm.request('POST', body);
      expect([answer.status, readCurriAnswer(answer.text).decision]).toEqual([200, 'Permit']);
    }
  });

  it('a call that is not a valid event (a field past the limit, no called number) fails open and sends nothing', async () => {
    const before = logLines.length;
    for (const call of [{ calling: '5'.repeat(300), called: '2000' }, { calling: '5550001', device: 'SEP'.repeat(100), called: '2000' }, { calling: '5550001', called: '' }]) {
      expect(await ask(call)).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue></continue></cixml>' });
    }
    const reasons = logLines.slice(before).map((line) => JSON.parse(line) as { outcome?: string; reason?: string }).filter((l) => l.outcome === 'bad_event').map((l) => l.reason);
    expect(reasons).toEqual(['calling_number: is longer than 256 characters; transformed_calling_number: is longer than 256 characters', 'calling_devicename: is longer than 256 characters', 'called_number: is required']);
    // No CRM lookup went out for them (earlier tests' post-call apps may still arrive meanwhile).
    expect(receiver.requests.filter((r) => r.url.startsWith('/crm'))).toHaveLength(0);
  });

  it('a call that is not a valid event gets the on_error answer of the policy its fields match, runs nothing and is logged under its call id', async () => {
    const before = logLines.length;
    for (const call of [{ calling: '5'.repeat(257), called: '3000' }, { calling: '5550001', device: 'S'.repeat(257), called: '3000' }]) {
      expect(await ask(call)).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    }
    const logged = logLines.slice(before).map((line) => JSON.parse(line) as { outcome?: string; policy?: string; call_id?: string }).filter((l) => l.outcome === 'bad_event');
    expect(logged).toEqual([1, 2].map(() => expect.objectContaining({ policy: 'strict', call_id: expect.stringMatching(/^curri-[0-9a-f-]{36}$/) })));
    expect(await h.get(logged[0]!.call_id!)).toBeUndefined(); // nothing stored
    expect(receiver.requests.filter((r) => r.url.startsWith('/crm'))).toHaveLength(0);
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Deny",outcome="bad_event"\} [1-9]/);
  });

  it('call data made only of characters XML cannot carry is empty: left unmodified, and an empty divert is the template error', async () => {
    // CUCM's XML may carry them as character references; escapeXml would drop them from the answer.
    const withRefs = (call: Parameters<typeof curriRequest>[0], refs: Record<string, string>) =>
      Object.entries(refs).reduce((xml, [marker, ref]) => xml.replaceAll(marker, ref), curriRequest(call));
    const before = logLines.length;
    const blank = await cucm.request('POST', withRefs({ calling: 'CTRL', called: '5000', device: 'NONCHAR' }, { CTRL: '&#1;', NONCHAR: '&#xFFFF;' }));
    expect(readCurriAnswer(blank.text)).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue></continue></cixml>' });
    // Only the greeting's value is such: the rest is modified as usual.
    const greeting = await cucm.request('POST', withRefs({ calling: '5550001', called: '5000', device: 'NONCHAR' }, { NONCHAR: '&#xFFFF;&#x7f;' }));
    expect(readCurriAnswer(greeting.text)).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue><modify callingname="5550001" callingnumber="5550001"/></continue></cixml>' });
    // A destination that is nothing XML can carry is no destination: on_error (reject here).
    const divert = await cucm.request('POST', withRefs({ calling: 'CTRL', called: '6000' }, { CTRL: '&#1;&#x1f;' }));
    expect(readCurriAnswer(divert.text)).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    const outcomes = logLines.slice(before).map((line) => JSON.parse(line) as { outcome?: string; reason?: string }).filter((l) => l.outcome);
    expect(outcomes).toEqual([expect.objectContaining({ outcome: 'template_error', reason: 'divert_to rendered empty' })]);
  });

  it('a call without caller id is not told to CUCM as the number "anonymous"', async () => {
    // The event still has the placeholder (policies match it, templates read it) ...
    const { cixml } = await ask({ calling: '', transformedCalling: '', called: '5000' });
    expect(cixmlAttribute(cixml, 'modify', 'callingname')).toBe('anonymous');
    // ... but a calling number rendered back to it stays absent, as CUCM sent it.
    expect(cixmlAttribute(cixml, 'modify', 'callingnumber')).toBeUndefined();
    // A number CUCM really sent is modified, whatever it is, and so is the transformed one standing in for it.
    expect(cixmlAttribute((await ask({ calling: 'anonymous', called: '5000' })).cixml, 'modify', 'callingnumber')).toBe('anonymous');
    expect(cixmlAttribute((await ask({ calling: '', transformedCalling: '5550009', called: '5000' })).cixml, 'modify', 'callingnumber')).toBe('5550009');
  });

  it('Call Test takes an empty calling number, as CUCM sends a call without caller id, and shows the XML /curri answers', async () => {
    const curri = await ask({ calling: '', transformedCalling: '', called: '5000' });
    const test = await h.request('POST', '/v1/call-test', { policy: 'echo', calling_number: '', called_number: '5000', calling_devicename: 'SEP001122334455', phase: 'real_time' });
    expect(test.status).toBe(200);
    expect(test.body.event.calling_number).toBe('anonymous'); // the placeholder policies match and templates read
    expect(readCurriAnswer(test.body.curri.xml)).toEqual(curri);
    expect(cixmlAttribute(readCurriAnswer(test.body.curri.xml).cixml, 'modify', 'callingnumber')).toBeUndefined();
    // With a transformed number standing in for it, that number, as /curri modifies it.
    const transformed = await h.request('POST', '/v1/call-test', { policy: 'echo', calling_number: '', transformed_calling_number: '5550009', called_number: '5000', phase: 'real_time' });
    expect(cixmlAttribute(readCurriAnswer(transformed.body.curri.xml).cixml, 'modify', 'callingnumber')).toBe('5550009');
    // A calling number left out is still a mistake; "anonymous" typed in is a number CUCM sent.
    expect((await h.request('POST', '/v1/call-test', { policy: 'echo', called_number: '5000' })).body.error.problems).toEqual(['calling_number: is required']);
    const typed = await h.request('POST', '/v1/call-test', { policy: 'echo', calling_number: 'anonymous', called_number: '5000', phase: 'real_time' });
    expect(cixmlAttribute(readCurriAnswer(typed.body.curri.xml).cixml, 'modify', 'callingnumber')).toBe('anonymous');
  });

  it('on_error: reject answers Deny instead', async () => {
    expect(await ask({ calling: '5559999', called: '3000' })).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    expect(await ask({ calling: '5550001', called: '3000' })).toMatchObject({ decision: 'Permit' });
  });

  it('a policy without a curri: block answers a plain continue; no policy matching too', async () => {
    expect(await ask({ calling: '5550001', called: '4000' })).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue></continue></cixml>' });
    expect(await ask({ calling: '5550001', called: '9000' })).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue></continue></cixml>' });
  });

  it('reads the request by attribute id, whatever its quirks', async () => {
    const { cixml } = await ask({ calling: '5550001', called: '2000', quirky: true });
    expect(cixmlAttribute(cixml, 'modify', 'callingname')).toBe(HOSTILE);
    // An empty calling number (no caller id) is still a call.
    expect((await ask({ calling: '', transformedCalling: '', called: '2000' })).decision).toBe('Permit');
  });

  it('queues the post-call apps after the answer, with trigger_point_type and the real-time results', async () => {
    await ask({ calling: '5550001', called: '2000', trigger: 'directorynumber', device: 'SEPAABBCCDDEEFF' });
    const ours = () => receiver.to('/log').filter((r) => (r.json as { device: string }).device === 'SEPAABBCCDDEEFF');
    for (let i = 0; i < 200 && ours().length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const [log] = ours();
    expect(log!.json).toEqual({ trigger: 'directorynumber', device: 'SEPAABBCCDDEEFF', name: HOSTILE });
    const callId = String(log!.headers['idempotency-key']).replace(/\.log$/, '');
    expect(callId).toMatch(/^curri-[0-9a-f-]{36}$/);
    const record = await h.waitForCall(callId);
    expect(record.app_data.crm).toMatchObject({ status: 'success' });
    expect(record.event).toMatchObject({ calling_number: '5550001', called_number: '2000', trigger_point_type: 'directorynumber', transformed_called_number: '2000' });
  });

  it('queues the post-call apps even when CUCM goes away before its answer (the call still happens), counted as client_gone', async () => {
    const answers = async (outcome: string) => Number(new RegExp(`callhook_curri_responses_total\\{decision="Permit",outcome="${outcome}"\\} (\\d+)`).exec(await (await fetch(`${h.baseUrl}/metrics`)).text())?.[1] ?? 0);
    const [okBefore, goneBefore] = [await answers('ok'), await answers('client_gone')];
    const request = http.request(`${h.baseUrl}/curri?api_key=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'text/xml' } });
    request.on('error', () => undefined);
    request.end(curriRequest({ calling: '5550005', called: '2000', device: 'SEP0000000GONE' }));
    await new Promise((resolve) => setTimeout(resolve, 40)); // the CRM answers after 150 ms
    request.destroy();
    const ours = () => receiver.to('/log').filter((r) => (r.json as { device: string }).device === 'SEP0000000GONE');
    for (let i = 0; i < 200 && ours().length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(ours().map((r) => r.json)).toEqual([{ trigger: 'translationpattern', device: 'SEP0000000GONE', name: 'Late' }]);
    const record = await h.waitForCall(String(ours()[0]!.headers['idempotency-key']).replace(/\.log$/, ''));
    expect(record).toMatchObject({ status: 'completed', app_data: { crm: { status: 'success' }, log: { status: 'success' } } });
    // The answer was never read: not an ok one.
    expect([await answers('ok'), await answers('client_gone')]).toEqual([okBefore, goneBefore + 1]);
  });

  it('a call whose post-call apps follow has one feed entry, its final status counting the real-time app that failed', async () => {
    // The CRM hangs past the deadline: CUCM gets continue, the call goes on to its post-call app.
    await ask({ calling: '5550004', called: '2000', device: 'SEP000000005550' });
    const ours = () => receiver.to('/log').filter((r) => (r.json as { device: string }).device === 'SEP000000005550');
    for (let i = 0; i < 200 && ours().length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const callId = String(ours()[0]!.headers['idempotency-key']).replace(/\.log$/, '');
    const record = await h.waitForCall(callId);
    expect(record.app_data).toMatchObject({ crm: { status: 'failed' }, log: { status: 'success' } });
    expect(record.status).toBe('partial');
    const feed = (await h.request('GET', '/v1/results?limit=500')).body.entries as { call: { call_id: string; status: string } }[];
    expect(feed.filter((e) => e.call.call_id === callId).map((e) => e.call.status)).toEqual(['partial']);
  });

  it('post_call: false stores the call with its real-time results and queues nothing', async () => {
    const before = new Set((await h.request('GET', '/v1/calls?policy=strict&limit=500')).body.calls.map((c: { call_id: string }) => c.call_id));
    await ask({ calling: '5550001', called: '3000' });
    let stored: { call_id: string; status: string } | undefined;
    for (let i = 0; i < 200 && !stored; i++) {
      await new Promise((r) => setTimeout(r, 25));
      stored = (await h.request('GET', '/v1/calls?policy=strict&limit=500')).body.calls.find((c: { call_id: string }) => !before.has(c.call_id));
    }
    expect(stored).toMatchObject({ status: 'completed' });
    expect((await h.request('GET', `/v1/calls/${stored!.call_id}`)).body.app_data).toEqual({ crm: expect.objectContaining({ status: 'success' }) });
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.to('/audit')).toEqual([]);
  });

  it('keeps connections open and answers CUCM\'s HEAD check', async () => {
    const heads = await Promise.all([1, 2, 3].map(() => cucm.request('HEAD')));
    expect(heads.map((r) => r.status)).toEqual([200, 200, 200]);
    const sockets = new Set<number>();
    for (let i = 0; i < 9; i++) sockets.add((await cucm.request('POST', curriRequest({ calling: '5550001', called: '4000' }))).socket);
    expect(sockets.size).toBeLessThanOrEqual(3); // reused, not one connection per request
  });

  it('takes the token only as ?api_key= on /curri, compared in constant time', async () => {
    const body = curriRequest({ calling: '5550001', called: '2000' });
    const post = (path: string, headers: Record<string, string> = {}) => fetch(h.baseUrl + path, { method: 'POST', headers: { 'content-type': 'text/xml', ...headers }, body });
    expect((await post('/curri')).status).toBe(401);
    expect((await post(`/curri?api_key=${TOKEN.slice(0, -1)}x`)).status).toBe(401);
    expect((await post('/curri', { authorization: `Bearer ${TOKEN}` })).status).toBe(401);
    expect((await fetch(`${h.baseUrl}/curri`, { method: 'HEAD' })).status).toBe(401);
    expect((await post(`/curri?api_key=${TOKEN}`)).status).toBe(200);
    expect((await fetch(`${h.baseUrl}/v1/policies?api_key=${TOKEN}`)).status).toBe(401); // nowhere else
    // Failures with the token in the URL log why, never the token.
    expect((await post(`/curri?api_key=${TOKEN}`, { 'content-type': 'application/json' })).status).toBe(200);
    // Over the 64 KiB limit: still the fail-open answer CUCM reads, not an HTTP error.
    const tooLarge = await fetch(`${h.baseUrl}/curri?api_key=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: curriRequest({ calling: '5550001', called: '2000' }).replace('</Request>', `<!--${'x'.repeat(70_000)}--></Request>`) });
    expect(tooLarge.status).toBe(200);
    expect(tooLarge.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await tooLarge.text()).toContain('&lt;continue&gt;');
    expect(logLines.join('\n')).toMatch(/curri: answering the error decision/);
    expect(logLines.join('\n')).not.toContain(TOKEN);
  });

  it('counts answers by decision and outcome, and times them', async () => {
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Permit",outcome="ok"\} \d+/);
    expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Deny",outcome="app_failed"\} \d+/);
    expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Permit",outcome="timeout"\} \d+/);
    expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Permit",outcome="unparseable"\} \d+/);
    expect(metrics).toMatch(/callhook_curri_duration_seconds_count \d+/);
    // The real-time apps it ran are the API's work, not the workers' (CallhookCallsStuckRunning counts only post_call).
    expect(metrics).toMatch(/^callhook_app_attempts_total\{policy="inbound",app="crm",phase="real_time",outcome="success"\} [1-9]/m);
    expect(metrics).not.toMatch(/^callhook_app_attempts_total\{policy="inbound",app="crm",phase="post_call"/m);
  });

  it('Call Test shows the exact XML CUCM would receive', async () => {
    const answer = await h.request('POST', '/v1/call-test', { policy: 'inbound', calling_number: '5550001', called_number: '2000', phase: 'real_time' });
    expect(answer.body.curri.outcome).toBe('ok');
    const { decision, cixml } = readCurriAnswer(answer.body.curri.xml);
    expect(decision).toBe('Permit');
    expect(cixmlAttribute(cixml, 'modify', 'callingname')).toBe(HOSTILE);
  });

  it('Call Test shows the on_error answer CUCM gets when the real-time apps outlast the CURRI timeout', async () => {
    const answer = await h.request('POST', '/v1/call-test', { policy: 'late', calling_number: '5550006', called_number: '7000', phase: 'real_time' });
    expect(answer.status).toBe(200);
    expect(answer.body.apps[0].result).toMatchObject({ status: 'success', data: { name: 'Too Late' } }); // what the app answered, later
    expect(answer.body.curri).toMatchObject({ outcome: 'timeout', error: expect.stringMatching(/took \d+ ms; past CALLHOOK_CURRI_TIMEOUT \(400 ms\)/) });
    expect(readCurriAnswer(answer.body.curri.xml)).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    // What /curri answers for the same call.
    expect(await ask({ calling: '5550006', called: '7000' })).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    const text = await fetch(`${h.baseUrl}/v1/call-test?format=text`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'late', calling_number: '5550006', called_number: '7000', phase: 'real_time' }) });
    expect(await text.text()).toMatch(/CURRI answer to CUCM \(timeout: the real-time apps took \d+ ms/);
  });
});
