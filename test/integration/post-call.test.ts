import { HOSTILE_NAMES, makeEvent } from '../helpers/events';
import { serializeEvent } from '../../src/events/schema';
import { JOB_EVENT_COPY_MAX } from '../../src/queue/producer';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

describe('post-call apps, end to end through the API, BullMQ and Redis', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/crm/lookup', (req) => ({ status: 200, body: { customer_id: 'CUST-12345', name: 'John Doe', company: 'ACME Corp', vip: !req.url.includes('novip'), tier: 2 } }));
    receiver.on('/tickets/CUST-12345', () => ({ status: 201, body: { ticket: 'T-1' } }));
    receiver.on('/text', () => ({ status: 200, body: 'plain words' }));
    receiver.on('/big', () => ({ status: 200, body: 'x'.repeat(5000) }));
    receiver.on('/missing', () => ({ status: 404, body: { error: 'no such contact' } }));
    // Written by hand: a 64-bit id is not a JavaScript number.
    receiver.on('/big-id', () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":1234567890123456789,"small":42,"phone":"12345678901234567890"}' }));
    h = await startHarness(__filename, `
policies:
  - id: chain
    match: { called_number: "^1[0-9]{3}$" }
    apps:
      - name: Slack Notify
        order: 90
        method: POST
        url: "${receiver.url}/chat"
        when: "{{ app_data.crm-lookup.data.vip }}"
        body:
          text: "{{ app_data.crm-lookup.message }} opened {{ app_data.ticket.data.ticket }}"
          tier: "{{ app_data.crm-lookup.data.tier }}"
      - name: CRM Lookup
        order: 10
        url: "${receiver.url}/crm/lookup"
        query: { phone: "{{ event.calling_number }}" }
        message: "{{ data.name }} ({{ data.company }})"
      - name: Ticket
        slug: ticket
        order: 50
        method: POST
        url: "${receiver.url}/tickets/{{ app_data.crm-lookup.data.customer_id }}"
        headers: { X-Customer: "{{ app_data.[crm-lookup].data.customer_id }}", X-Absent: "{{ app_data.nope.data.x }}" }
        body: { customer: "{{ app_data.crm-lookup.data }}", caller: "{{ event.calling_name }}" }
  - id: hostile
    apps:
      - name: Echo
        method: POST
        url: "${receiver.url}/echo/{{ event.calling_name }}/end"
        query: { name: "{{ event.calling_name }}" }
        headers: { X-Name: "{{ event.calling_name }}" }
        body: { name: "{{ event.calling_name }}", text: "Hi {{ event.calling_name }}!" }
  - id: failing
    apps:
      - { name: Lookup, url: "${receiver.url}/missing", on_failure: stop }
      - { name: After, url: "${receiver.url}/after" }
  - id: continuing
    apps:
      - { name: Lookup, url: "${receiver.url}/missing" }
      - { name: After, url: "${receiver.url}/after", message: "{{ app_data.lookup.status }}" }
  - id: held
    apps:
      - { name: Held, url: "${receiver.url}/held" }
  - id: big-ids
    apps:
      - { name: Lookup, url: "${receiver.url}/big-id" }
      - { name: Next, method: POST, url: "${receiver.url}/next", query: { id: "{{ app_data.lookup.data.id }}" }, body: { id: "{{ app_data.lookup.data.id }}", text: "id {{ app_data.lookup.data.id }}", small: "{{ app_data.lookup.data.small }}" } }
  - id: big-ids-realtime
    apps:
      - { name: Lookup, phase: real_time, url: "${receiver.url}/big-id" }
      - { name: Next, phase: real_time, url: "${receiver.url}/next", query: { id: "{{ app_data.lookup.data.id }}" } }
  - id: responses
    apps:
      - { name: Text, url: "${receiver.url}/text" }
      - { name: Big, url: "${receiver.url}/big", max_response_bytes: 1000 }
`);
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
  });

  it('runs the matched policy in order, each app templating from the ones before it', async () => {
    const event = makeEvent({ calling_number: '+1 (555) 123-4567', called_number: '1000', calling_name: `O'Brien & Sons` });
    const posted = await h.post(event);
    expect(posted).toEqual({ status: 202, body: { calls: [{ call_id: event.call_id, status: 'queued' }] } });

    const record = await h.waitForCall(event.call_id);
    expect(record).toMatchObject({ call_id: event.call_id, policy: 'chain', status: 'completed', event: { calling_name: `O'Brien & Sons` } });
    expect(record.finished_at).not.toBeNull();
    expect(record.app_data['crm-lookup']).toEqual({
      status: 'success', http_status: 200, data: expect.objectContaining({ customer_id: 'CUST-12345' }), message: 'John Doe (ACME Corp)',
      attempts: 1, duration_ms: expect.any(Number), unresolved: [], error: null,
      attempts_log: [{ at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/), http_status: 200, duration_ms: expect.any(Number), error: null, retry_in_ms: null }],
      request: {
        method: 'GET',
        url: `${receiver.url}/crm/lookup?phone=%2B1%20%28555%29%20123-4567`,
        headers: { 'Content-Type': 'application/json', 'User-Agent': expect.stringMatching(/^callhook\//), 'Idempotency-Key': `${event.call_id}.crm-lookup` },
        body_bytes: 0,
      },
    });
    expect(record.app_data.ticket).toMatchObject({ status: 'success', http_status: 201, data: { ticket: 'T-1' }, unresolved: ['app_data.nope.data.x'] });
    // The request as sent, without its body: its size only.
    expect(record.app_data.ticket!.request).toMatchObject({ method: 'POST', headers: { 'X-Customer': 'CUST-12345' }, body_bytes: Buffer.byteLength(receiver.requests[1]!.body) });
    expect(record.app_data['slack-notify']).toMatchObject({ status: 'success', unresolved: [] });

    expect(receiver.requests.map((r) => r.url.split('?')[0])).toEqual(['/crm/lookup', '/tickets/CUST-12345', '/chat']);
    expect(receiver.requests[0]?.url).toBe('/crm/lookup?phone=%2B1%20%28555%29%20123-4567');
    const ticket = receiver.requests[1];
    expect(ticket?.headers['x-customer']).toBe('CUST-12345');
    expect(ticket?.headers['x-absent']).toBeUndefined();
    expect(ticket?.json).toEqual({ customer: expect.objectContaining({ vip: true, tier: 2 }), caller: `O'Brien & Sons` });
    expect(receiver.requests[2]?.json).toEqual({ text: 'John Doe (ACME Corp) opened T-1', tier: 2 });
  });

  it('an integer beyond 2^53 in an answer keeps its exact digits, queued and real-time', async () => {
    const event = makeEvent({ policy: 'big-ids' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('completed');
    expect(record.app_data.lookup!.data).toEqual({ id: '1234567890123456789', small: 42, phone: '12345678901234567890' });
    const [next] = receiver.to('/next');
    expect(next!.url).toBe('/next?id=1234567890123456789');
    expect(next!.body).toBe('{"id":"1234567890123456789","text":"id 1234567890123456789","small":42}');

    const realtime = await h.request('POST', '/v1/realtime', makeEvent({ policy: 'big-ids-realtime' }));
    expect(realtime.body.app_data.lookup.data.id).toBe('1234567890123456789');
    expect(receiver.to('/next').map((r) => r.url)).toEqual(['/next?id=1234567890123456789', '/next?id=1234567890123456789']);
  });

  it('skips an app whose `when` renders false', async () => {
    const event = makeEvent({ calling_number: 'novip', called_number: '1001' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('completed');
    expect(record.app_data['slack-notify']).toMatchObject({ status: 'skipped', attempts: 0 });
    expect(receiver.to('/chat')).toHaveLength(0);
  });

  it.each(HOSTILE_NAMES)('hostile call data never breaks the URL, a header or the body: %j', async (name) => {
    const event = makeEvent({ calling_name: name, policy: 'hostile' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    const request = receiver.requests.find((r) => r.headers['idempotency-key'] === `${event.call_id}.echo`);
    if (/[\r\n]/.test(name)) {
      expect(record.app_data.echo).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'CALLHOOK_TEMPLATE_RENDER' } });
      expect(request).toBeUndefined();
      return;
    }
    expect(record.app_data.echo?.status).toBe('success');
    const url = new URL(request?.url ?? '', 'http://x');
    const segments = url.pathname.split('/');
    expect(segments).toHaveLength(4);
    expect(decodeURIComponent(segments[2] ?? '')).toBe(name);
    expect([...url.searchParams.keys()]).toEqual(['name']);
    expect(url.searchParams.get('name')).toBe(name);
    expect(Buffer.from(request?.headers['x-name'] as string, 'latin1').toString('utf8')).toBe(name);
    expect(request?.json).toEqual({ name, text: `Hi ${name}!` });
  });

  it('records a 4xx as failed after one request and goes on (partial)', async () => {
    const event = makeEvent({ policy: 'continuing' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('partial');
    expect(record.app_data.lookup).toMatchObject({ status: 'failed', http_status: 404, attempts: 1, data: { error: 'no such contact' }, error: { code: 'CALLHOOK_HTTP_STATUS' } });
    expect(record.app_data.after).toMatchObject({ status: 'success', message: 'failed' });
    expect(receiver.to('/missing')).toHaveLength(1);
  });

  it('stops the policy after a failed app with on_failure: stop', async () => {
    const event = makeEvent({ policy: 'failing' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('failed');
    expect(record.app_data.after).toMatchObject({ status: 'skipped', message: expect.stringContaining('on_failure: stop') });
    expect(receiver.to('/after')).toHaveLength(0);
  });

  it('stores text responses as text and fails responses over max_response_bytes', async () => {
    const event = makeEvent({ policy: 'responses' });
    await h.post(event);
    const record = await h.waitForCall(event.call_id);
    expect(record.app_data.text).toMatchObject({ status: 'success', data: 'plain words' });
    expect(record.app_data.big).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'CALLHOOK_RESPONSE_TOO_LARGE' } });
  });

  it('records a call no policy matches as unmatched', async () => {
    const event = makeEvent({ called_number: '999' });
    await h.post(event);
    expect((await h.waitForCall(event.call_id)).status).toBe('unmatched');
  });

  it('refuses an event naming a policy that does not exist, and queues nothing of its batch', async () => {
    const good = makeEvent();
    const answer = await h.request('POST', '/v1/calls', [good, makeEvent({ policy: 'nope' })]);
    expect(answer).toMatchObject({ status: 404, body: { error: { code: 'CALLHOOK_POLICY_NOT_FOUND', problems: ['[1].policy: no policy "nope"'] } } });
    expect((await h.request('POST', '/v1/calls', makeEvent({ policy: 'nope' }))).body.error.problems).toEqual(['policy: no policy "nope"']);
    expect(await h.get(good.call_id)).toBeUndefined();
  });

  it('refuses a batch of more than 1000 events whole (the in-process producer too)', async () => {
    const answer = await h.request('POST', '/v1/calls', Array.from({ length: 1001 }, () => makeEvent()));
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'CALLHOOK_EVENT_INVALID', message: 'a batch holds at most 1000 events', problems: ['(root): a batch holds at most 1000 events'] } } });
  });

  it('processes the same call_id once, however often it is posted', async () => {
    const event = makeEvent({ policy: 'continuing' });
    const [first, second, batch] = await Promise.all([h.post(event), h.post(event), h.post([event, makeEvent({ policy: 'continuing' })])]);
    const statuses = [first, second, batch].flatMap((r) => r.body.calls.filter((c) => c.call_id === event.call_id).map((c) => c.status));
    expect(statuses.sort()).toEqual(['duplicate', 'duplicate', 'queued']);
    await h.waitForCall(event.call_id);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.requests.filter((r) => r.headers['idempotency-key'] === `${event.call_id}.lookup`)).toHaveLength(1);
  });

  it('records a call the queue gives up on as failed, not running forever', async () => {
    const callId = 'call-corrupt';
    await h.runtime.redis.hset(h.runtime.store.key(callId), 'event', '{not json', 'status', 'queued', 'created_at', new Date().toISOString());
    await h.runtime.queue.add('calls', { call_id: callId }, { jobId: callId, attempts: 1 });
    for (let i = 0; i < 100 && (await h.runtime.redis.hget(h.runtime.store.key(callId), 'status')) !== 'failed'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await h.runtime.redis.hget(h.runtime.store.key(callId), 'status')).toBe('failed');
    expect(await h.runtime.store.failedSince({ at: 0 })).toContain(callId);
  });

  it('keeps nothing of a call whose record expired while its app was in flight, and recreates no record', async () => {
    let release = () => undefined as void;
    receiver.on('/held', () => new Promise((resolve) => (release = () => resolve({ status: 200, body: { ok: true } }))));
    const event = makeEvent({ policy: 'held' });
    await h.post(event);
    await receiver.waitFor(1, '/held');
    expect((await h.get(event.call_id))?.status).toBe('running');
    await h.runtime.redis.del(h.runtime.store.key(event.call_id)); // as if its TTL had passed
    release();
    for (let i = 0; i < 100 && (await h.runtime.queue.getJob(event.call_id)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await h.runtime.queue.getJob(event.call_id)).toBeUndefined(); // completed (as `missing`), not retried
    expect(await h.runtime.redis.exists(h.runtime.store.key(event.call_id))).toBe(0);
    expect(receiver.to('/held')).toHaveLength(1);
  });

  it('copies a small event into its job, and runs a large one (a CDR event) from the record', async () => {
    let release = () => undefined as void;
    receiver.on('/held', (req) => new Promise((resolve) => (release = () => resolve({ status: 200, body: { got: req.url } }))));
    const small = makeEvent({ policy: 'held' });
    const large = makeEvent({ policy: 'held', cdr: { comment: 'x'.repeat(JOB_EVENT_COPY_MAX) } });
    for (const event of [small, large]) {
      await h.post(event);
      await receiver.waitFor(1, '/held');
      const job = await h.runtime.queue.getJob(event.call_id);
      if (event === small) expect(JSON.parse(job?.data.fresh?.event ?? 'null')).toEqual(small);
      else expect(job?.data).toEqual({ call_id: event.call_id });
      release();
      const record = await h.waitForCall(event.call_id);
      expect(record).toMatchObject({ status: 'completed', event: { call_id: event.call_id } });
      if (event === large) expect(record.event.cdr).toEqual(large.cdr);
      receiver.requests.length = 0;
    }
  });

  it('re-adds the job of a call whose producer died between marking it and queueing it', async () => {
    const event = makeEvent({ policy: 'continuing' });
    await h.runtime.store.markQueued([serializeEvent(event)]); // the crash: marked, never added to BullMQ
    const again = await h.post(event);
    expect(again.body.calls).toEqual([{ call_id: event.call_id, status: 'duplicate' }]);
    expect((await h.waitForCall(event.call_id)).status).toBe('partial');
  });

  it('refuses a bad batch with every problem and queues nothing', async () => {
    const good = makeEvent();
    const response = await h.post([good, { calling_number: '' }, { called_number: 1 }]);
    expect(response.status).toBe(400);
    expect(response.body.error?.problems).toEqual(expect.arrayContaining(['[1].calling_number: is required', '[1].called_number: is required', '[2].calling_number: is required']));
    expect(await h.get(good.call_id)).toBeUndefined();
    expect(await h.runtime.queue.getJob(good.call_id)).toBeUndefined();
  });

  it('names a field of the wrong type by the type it wants, not as missing', async () => {
    const response = await h.post({ calling_number: 5551234, called_number: 1000, timestamp: 12345, app_data: [] });
    expect(response.status).toBe(400);
    expect(response.body.error?.problems).toEqual([
      'calling_number: expected a string, got a number',
      'called_number: expected a string, got a number',
      'timestamp: expected a string, got a number',
      'app_data: expected an object, got an array',
    ]);
  });

  it('answers 400 to a body that is not JSON and 404 to an unknown call', async () => {
    const bad = await h.request('POST', '/v1/calls', '{"calling_number": ');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'CALLHOOK_BAD_REQUEST' } });
    expect((await h.request('GET', '/v1/calls/nope')).status).toBe(404);
  });
});
