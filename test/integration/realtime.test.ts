import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

describe('POST /v1/realtime: real-time apps run inside the request', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/discover', () => ({ status: 200, body: { phone: { ip: '10.1.2.3', model: 'CP-8845' } } }));
    receiver.on('/crm', (req) => ({ status: 200, body: { name: 'John Doe', seen_ip: new URL(req.url, 'http://x').searchParams.get('ip') } }));
    h = await startHarness(__filename, `
policies:
  - id: enrich
    apps:
      - { name: Phone Discovery, phase: real_time, order: 10, url: "${receiver.url}/discover", timeout: 2s }
      - { name: CRM, phase: real_time, order: 20, url: "${receiver.url}/crm", query: { ip: "{{ app_data.phone-discovery.data.phone.ip }}" }, timeout: 2s }
      - name: Log
        order: 90
        method: POST
        url: "${receiver.url}/log"
        body: { name: "{{ app_data.crm.data.name }}", model: "{{ app_data.phone-discovery.data.phone.model }}" }
  - id: flaky
    apps:
      - { name: Flaky, phase: real_time, method: POST, url: "${receiver.url}/flaky", body: { a: 1 }, retry_delay: 100ms, retry_jitter: 0, timeout: 3s }
  - id: missing
    apps:
      - { name: Missing, phase: real_time, url: "${receiver.url}/missing", retry_delay: 50ms, timeout: 2s }
  - id: hang
    apps:
      - { name: Hang, phase: real_time, url: "${receiver.url}/hang", timeout: 500ms, retry_count: 3, retry_delay: 50ms }
  - id: retry-after
    apps:
      - { name: Busy, phase: real_time, url: "${receiver.url}/busy", retry_delay: 50ms, timeout: 5s }
  - id: sales
    match: { called_number: "^1" }
    apps:
      - { name: Sales CRM, url: "${receiver.url}/sales", retry_delay: 400ms }
  - id: support
    match: { called_number: "^2" }
    apps:
      - { name: Support Lookup, phase: real_time, url: "${receiver.url}/support-rt" }
      - { name: Support CRM, url: "${receiver.url}/support" }
`);
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
  });

  it('runs the apps in order, the second templating the first, and the post-call apps of the call see the results', async () => {
    const event = makeEvent({ policy: 'enrich' });
    const answer = await h.request('POST', '/v1/realtime', event);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      call_id: event.call_id,
      policy: 'enrich',
      stored: true,
      app_data: {
        'phone-discovery': expect.objectContaining({ status: 'success', data: { phone: { ip: '10.1.2.3', model: 'CP-8845' } } }),
        crm: expect.objectContaining({ status: 'success', attempts: 1, data: { name: 'John Doe', seen_ip: '10.1.2.3' } }),
      },
    });
    expect(receiver.to('/log')).toHaveLength(0);

    const posted = await h.post(event);
    expect(posted.body.calls[0]?.status).toBe('queued');
    const record = await h.waitForCall(event.call_id);
    expect(record.status).toBe('completed');
    expect(receiver.to('/log')[0]?.json).toEqual({ name: 'John Doe', model: 'CP-8845' });
    expect(Object.keys(record.app_data).sort()).toEqual(['crm', 'log', 'phone-discovery']);
    expect(receiver.to('/discover')).toHaveLength(1);
  });

  it('retries a 5xx inside the request, POST included', async () => {
    receiver.sequence('/flaky', [{ status: 503 }, { status: 502 }, { status: 200, body: { ok: true } }]);
    const answer = await h.request('POST', '/v1/realtime', makeEvent({ policy: 'flaky' }));
    expect(answer.body.app_data.flaky).toMatchObject({ status: 'success', attempts: 3, data: { ok: true } });
    const times = receiver.to('/flaky').map((r) => r.at);
    expect(receiver.to('/flaky').every((r) => r.method === 'POST' && r.body === '{"a":1}')).toBe(true);
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(90);
    expect((times[2] ?? 0) - (times[1] ?? 0)).toBeGreaterThanOrEqual(190);
    // The in-request retries are on record too, with the request's body size.
    expect(answer.body.app_data.flaky.attempts_log.map((a: { http_status: number; retry_in_ms: number | null }) => [a.http_status, a.retry_in_ms])).toEqual([[503, 100], [502, 200], [200, null]]);
    expect(answer.body.app_data.flaky.request).toMatchObject({ method: 'POST', body_bytes: 7 });
  });

  it('does not retry a 404', async () => {
    receiver.on('/missing', () => ({ status: 404 }));
    const answer = await h.request('POST', '/v1/realtime', makeEvent({ policy: 'missing' }));
    expect(answer.body.app_data.missing).toMatchObject({ status: 'failed', http_status: 404, attempts: 1 });
    expect(receiver.to('/missing')).toHaveLength(1);
  });

  it('bounds an app that never answers by its timeout, retries included', async () => {
    receiver.on('/hang', () => ({ hang: true }));
    const started = Date.now();
    const answer = await h.request('POST', '/v1/realtime', makeEvent({ policy: 'hang' }));
    const took = Date.now() - started;
    expect(answer.body.app_data.hang).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_HTTP_TIMEOUT' } });
    expect(took).toBeGreaterThanOrEqual(480);
    expect(took).toBeLessThan(1000);
  });

  it('honours Retry-After inside the request', async () => {
    receiver.sequence('/busy', [{ status: 503, headers: { 'retry-after': '1' } }, { status: 200 }]);
    const answer = await h.request('POST', '/v1/realtime', makeEvent({ policy: 'retry-after' }));
    expect(answer.body.app_data.busy).toMatchObject({ status: 'success', attempts: 2 });
    const [a, b] = receiver.to('/busy').map((r) => r.at);
    expect((b ?? 0) - (a ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('a call already queued keeps its policy: a real-time request for it cannot switch a delayed retry to another policy', async () => {
    receiver.sequence('/sales', [{ status: 503 }, { status: 200, body: { ok: true } }]);
    const event = makeEvent({ called_number: '1000' });
    await h.post(event);
    await receiver.waitFor(1, '/sales'); // failed once: the call waits 400 ms for its retry
    const realtime = await h.request('POST', '/v1/realtime', { ...event, called_number: '2000' });
    expect(realtime.body).toMatchObject({ call_id: event.call_id, policy: 'sales', app_data: {} });
    const record = await h.waitForCall(event.call_id);
    expect(record).toMatchObject({ policy: 'sales', status: 'completed' });
    expect(receiver.to('/sales')).toHaveLength(2);
    expect(receiver.to('/support-rt')).toHaveLength(0);
    expect(receiver.to('/support')).toHaveLength(0);
  });

  it('a stored call keeps its policy also when the request\'s own policy has no real-time apps', async () => {
    receiver.on('/support-rt', () => ({ status: 200, body: { name: 'Ada' } }));
    const event = makeEvent({ called_number: '2000' });
    await h.post(event);
    await h.waitForCall(event.call_id);
    const realtime = await h.request('POST', '/v1/realtime', { ...event, called_number: '1000' }); // matches sales: no real-time apps
    expect(realtime.body).toMatchObject({ call_id: event.call_id, policy: 'support', app_data: { 'support-lookup': { status: 'success', data: { name: 'Ada' } } } });
    const named = await h.request('POST', '/v1/realtime', { ...event, policy: 'sales' });
    expect(named.body).toMatchObject({ policy: 'support', app_data: { 'support-lookup': { status: 'success' } } });
    // A new call whose policy has no real-time apps writes nothing.
    const fresh = makeEvent({ called_number: '1000' });
    expect((await h.request('POST', '/v1/realtime', fresh)).body).toMatchObject({ policy: 'sales', app_data: {} });
    expect(await h.get(fresh.call_id)).toBeUndefined();
  });

  it('refuses a bad event and an unknown policy with a clear message', async () => {
    const bad = await h.request('POST', '/v1/realtime', { calling_number: '1' });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'CALLHOOK_EVENT_INVALID', problems: ['called_number: is required'] } } });
    const wrongTypes = await h.request('POST', '/v1/realtime', { calling_number: '1', called_number: '2', policy: null, call_id: null });
    expect(wrongTypes.body.error.problems).toEqual(['call_id: expected a string, got null', 'policy: expected a string, got null']);
    const unknown = await h.request('POST', '/v1/realtime', makeEvent({ policy: 'nope' }));
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'CALLHOOK_POLICY_NOT_FOUND', message: 'no policy "nope"' } } });
  });
});
