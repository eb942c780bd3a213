import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/policies/load';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

function loadProblems(url: string, extra = ''): string[] {
  try {
    parseConfig(`policies: [{ id: p, apps: [{ name: A, url: "${url}"${extra} }] }]`);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('the literal-host rule cannot be steered', () => {
  it.each([
    'https://crm.example.com{{ event.x }}/c', // x = ".evil.example" → crm.example.com.evil.example
    'http://127.0.0.1:1{{ event.p }}/', // picks the port
    'https://{{ event.user }}@crm.example.com/',
    'https://crm.example.com:{{ event.port }}/',
    'https://crm.{{ event.x }}.example.com/',
  ])('%s is a load error naming the field', (url) => {
    expect(loadProblems(url)).toEqual([expect.stringMatching(/^policies\[0\]\.apps\[0\]\.url: scheme, host and port must be literal and closed by/)]);
  });

  it.each(['https://crm.example.com/{{ event.x }}', 'https://crm.example.com?q={{ event.x }}', 'https://crm.example.com#{{ event.x }}', 'https://crm.example.com:8443/c/{{ event.x }}'])(
    '%s loads',
    (url) => expect(loadProblems(url)).toEqual([]),
  );

  it('allow_templated_host still lets a policy template the host on purpose', () => {
    expect(loadProblems('https://{{ event.region }}.crm.example.com/', ', allow_templated_host: true')).toEqual([]);
  });
});

describe('hostile call data in a URL path, over real HTTP', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `
policies:
  - id: path
    apps:
      - { name: Lookup, url: "${receiver.url}/contacts/{{ event.calling_name }}/details", retry_count: 0, auth: { type: bearer, token: "\${CRM_TOKEN}" } }
  - id: redos
    match: { calling_name: "^(\\\\w+\\\\s?)*$" }
    apps:
      - { name: Matched, url: "${receiver.url}/matched", phase: real_time }
  - id: objects
    apps:
      - { name: Early, phase: real_time, url: "${receiver.url}/early", when: "{{#if event.tag}}{{ event.tag }}{{/if}}", message: "{{#if event.tag}}tag {{ event.tag }}{{/if}}" }
      - { name: Tagged, url: "${receiver.url}/tagged", when: "{{#if event.tag}}{{ event.tag }}{{/if}}", message: "{{#with event}}{{ tag }}/{{ called_number }}{{/with}}", retry_count: 0 }
  - id: default
    apps:
      - { name: Fallback, url: "${receiver.url}/fallback", phase: real_time }
`, { env: { CRM_TOKEN: 'crm-secret-token-123' } });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  it.each(['..', '.', '%2e%2e'])('a name of %j cannot climb out of the path', async (name) => {
    receiver.requests.length = 0;
    const posted = await h.post({ calling_number: '1', called_number: '2', calling_name: name, policy: 'path' });
    const record = await h.waitForCall(posted.body.calls[0]!.call_id);
    if (name === '%2e%2e') {
      // Percent signs are themselves encoded: the segment is %252e%252e, an ordinary name.
      expect(record.app_data.lookup!.status).toBe('success');
      expect(receiver.requests[0]!.url).toBe('/contacts/%252e%252e/details');
    } else {
      expect(record.app_data.lookup!.error).toEqual({ code: 'CALLHOOK_TEMPLATE_RENDER', message: expect.stringContaining('path segment') });
      expect(receiver.requests).toHaveLength(0); // and so no credential went anywhere
    }
  });

  it('call data that Handlebars cannot make text ({"toString": "x"}) renders in blocks, on every path, each app sent once', async () => {
    receiver.requests.length = 0;
    const event = { calling_number: '1', called_number: '2', policy: 'objects', tag: { toString: 'x', valueOf: 'y' } };
    const posted = await h.post(event);
    const record = await h.waitForCall(posted.body.calls[0]!.call_id);
    expect(record.status).toBe('completed');
    expect(record.app_data.tagged!.message).toBe('[object Object]/2');
    const realtime = await h.request('POST', '/v1/realtime', event);
    expect([realtime.status, realtime.body.app_data.early.message]).toEqual([200, 'tag [object Object]']);
    const callTest = await h.request('POST', '/v1/call-test', event);
    expect(callTest.status).toBe(200);
    expect(callTest.body.apps.map((a: { result: { status: string } }) => a.result.status)).toEqual(['success', 'success']);
    expect(receiver.requests.map((r) => r.url)).toEqual(['/tagged', '/early', '/early', '/tagged']);
  });

  it('a catastrophic-backtracking match pattern runs in linear time, in the API and the worker', async () => {
    const evil = `${'a'.repeat(40)}!`; // hours with a backtracking engine
    const started = Date.now();
    const realtime = await h.request('POST', '/v1/realtime', { calling_number: '1', called_number: '2', calling_name: evil });
    expect(realtime.status).toBe(200);
    expect(realtime.body.policy).toBe('default');
    const posted = await h.post({ calling_number: '1', called_number: '2', calling_name: evil });
    const record = await h.waitForCall(posted.body.calls[0]!.call_id);
    expect(record.policy).toBe('default');
    expect(Date.now() - started).toBeLessThan(5000);
    const good = await h.request('POST', '/v1/realtime', { calling_number: '1', called_number: '2', calling_name: 'John Doe' });
    expect(good.body.policy).toBe('redos');
  });

  it('lookaround and backreferences (which RE2 cannot run in linear time) are load errors', () => {
    expect(() => parseConfig('policies: [{ id: p, match: { calling_name: "(a)\\\\1" }, apps: [] }]')).toThrow(/policies\[0\]\.match\.calling_name: .*RE2 syntax/);
    expect(() => parseConfig('policies: [{ id: p, match: { calling_name: "(?=a)" }, apps: [] }]')).toThrow(/policies\[0\]\.match\.calling_name/);
  });

  it('the standard string fields are capped at 256 characters', async () => {
    for (const field of ['calling_number', 'called_number', 'calling_name', 'calling_devicename', 'trigger_point_type']) {
      const answer = await h.post({ calling_number: '1', called_number: '2', [field]: 'x'.repeat(257) });
      expect(answer.status).toBe(400);
      expect(answer.body.error?.problems).toEqual([`${field}: is longer than 256 characters`]);
    }
    expect((await h.post({ calling_number: '1', called_number: '2', calling_name: 'x'.repeat(256) })).status).toBe(202);
  });
});
