import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { createLogger } from '../../src/logger';
import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/policies/load';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

// A Standard Webhooks key (whsec_ + base64 of 32 random-looking bytes), as a receiver would hand it out.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
// The secret a receiver is moving to (30 bytes).
const NEW_SECRET = 'whsec_Q2FsbGhvb2sgcm90YXRpb24gdGVzdCBrZXkgMzJi';
const HOSTILE = `O'Brien & Sons=1 + 50% <VIP> "Ltd" 🙂`;

describe('delivery: form and text bodies, Standard Webhooks signatures', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  const logLines: string[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `
policies:
  - id: sms
    apps:
      - name: Twilio
        method: POST
        url: "${receiver.url}/sms"
        body_format: form
        body: { To: "{{ event.called_number }}", From: "+15550000000", Body: "Call from {{ event.calling_name }}", Count: 2, Urgent: true }
  - id: soap
    apps:
      - name: Legacy
        method: POST
        url: "${receiver.url}/soap"
        body_format: text
        content_type: "text/plain; charset=utf-8"
        body: "caller={{ event.calling_name }}\\nnumber={{ event.calling_number }}\\n"
  - id: xml
    apps:
      - name: Soap
        method: POST
        url: "${receiver.url}/xml"
        body_format: text
        content_type: "text/xml; charset=utf-8"
        body: "<Envelope><Caller>{{ xml event.calling_name }}</Caller><Number>{{ xml event.calling_number }}</Number></Envelope>"
  - id: json-text
    apps:
      - name: Json Text
        method: POST
        url: "${receiver.url}/json-text"
        body_format: text
        content_type: application/json
        body: '{"name": {{ json event.calling_name }}, "dev": {{ json event.calling_devicename }} }'
  - id: big
    apps:
      - name: Items
        method: POST
        url: "${receiver.url}/items"
        retry_count: 3
        max_request_bytes: 2000
        body_format: text
        content_type: text/xml
        body: "<Items>{{#each event.items}}<Item n='{{ @index }}'>{{ xml this }}</Item>{{/each}}</Items>"
  - id: signed
    apps:
      - name: Signed
        method: POST
        url: "${receiver.url}/signed"
        signing: { secret: "\${WEBHOOK_SECRET}" }
        body: { name: "{{ event.calling_name }}" }
      - name: Signed Get
        url: "${receiver.url}/signed-get"
        signing: { secret: "\${WEBHOOK_SECRET}" }
  - id: rotating
    apps:
      - name: Rotating
        method: POST
        url: "${receiver.url}/rotating"
        signing: { secrets: ["\${NEW_WEBHOOK_SECRET}", "\${WEBHOOK_SECRET}"] }
        body: { name: "{{ event.calling_name }}" }
`, {
      env: { WEBHOOK_SECRET: SECRET, NEW_WEBHOOK_SECRET: NEW_SECRET },
      logger: (config) => createLogger({ level: 'debug', secrets: config.secrets, destination: { write: (line: string) => void logLines.push(line) } }),
    });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  const run = async (policy: string, overrides: Record<string, unknown> = {}) => {
    const posted = await h.post(makeEvent({ policy, calling_name: HOSTILE, ...overrides }));
    return h.waitForCall(posted.body.calls[0]!.call_id);
  };

  it('form: each field rendered and form-encoded; & = + % in call data stay inside their field', async () => {
    const record = await run('sms');
    expect(record.status).toBe('completed');
    const [sent] = receiver.to('/sms');
    expect(sent!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent!.body).toBe('To=1000&From=%2B15550000000&Body=Call+from+O%27Brien+%26+Sons%3D1+%2B+50%25+%3CVIP%3E+%22Ltd%22+%F0%9F%99%82&Count=2&Urgent=true');
    expect(Object.fromEntries(new URLSearchParams(sent!.body))).toEqual({ To: '1000', From: '+15550000000', Body: `Call from ${HOSTILE}`, Count: '2', Urgent: 'true' });
  });

  it('text: the template as it renders, with its content type, byte for byte', async () => {
    await run('soap', { calling_number: '+1 (555) 123-4567' });
    const [sent] = receiver.to('/soap');
    expect(sent!.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(sent!.body).toBe(`caller=${HOSTILE}\nnumber=+1 (555) 123-4567\n`);
  });

  it('text with the xml helper: markup, quotes and control characters in call data stay text inside their element', async () => {
    const injection = `${HOSTILE}</Caller><Admin>1</Admin>\u0001`;
    await run('xml', { calling_name: injection, calling_number: `<Number>&amp;` });
    const [sent] = receiver.to('/xml');
    expect(sent!.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(sent!.body).toBe(
      '<Envelope><Caller>O&apos;Brien &amp; Sons=1 + 50% &lt;VIP&gt; &quot;Ltd&quot; 🙂&lt;/Caller&gt;&lt;Admin&gt;1&lt;/Admin&gt;</Caller>' +
        '<Number>&lt;Number&gt;&amp;amp;</Number></Envelope>',
    );
    expect(sent!.body.match(/<[A-Za-z/]/g)).toHaveLength(6); // only the template's own tags
  });

  it('text with the json helper: a missing field is null, so the body stays JSON (CDR events have no calling_name)', async () => {
    const posted = await h.post({ calling_number: '1', called_number: '2', calling_devicename: 'SEP001122', policy: 'json-text' });
    await h.waitForCall(posted.body.calls[0]!.call_id);
    expect(JSON.parse(receiver.to('/json-text')[0]!.body)).toEqual({ name: null, dev: 'SEP001122' });
  });

  it('a request that renders larger than max_request_bytes fails at once, unsent and not retried', async () => {
    const posted = await h.post([
      { calling_number: '1', called_number: '2', policy: 'big', items: Array.from({ length: 5000 }, (_, i) => `item ${i}`) },
      { calling_number: '1', called_number: '2', policy: 'big', items: ['a', 'b'] },
    ]);
    const [big, small] = await Promise.all(posted.body.calls.map((call) => h.waitForCall(call.call_id)));
    expect(big!.app_data.items).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { code: 'CALLHOOK_REQUEST_TOO_LARGE', message: 'the rendered request is larger than max_request_bytes (2000); nothing was sent' },
    });
    expect(small!.app_data.items!.status).toBe('success');
    expect(receiver.to('/items').map((r) => r.body)).toEqual(["<Items><Item n='0'>a</Item><Item n='1'>b</Item></Items>"]);
  });

  it('signs with Standard Webhooks: verified by the standardwebhooks package, tampering fails, the secret shows nowhere', async () => {
    const record = await run('signed');
    expect(record.status).toBe('completed');
    const verifier = new Webhook(SECRET);
    for (const path of ['/signed', '/signed-get']) {
      const [sent] = receiver.to(path);
      const headers = { 'webhook-id': String(sent!.headers['webhook-id']), 'webhook-timestamp': String(sent!.headers['webhook-timestamp']), 'webhook-signature': String(sent!.headers['webhook-signature']) };
      expect(headers['webhook-id']).toBe(`${record.call_id}.${path === '/signed' ? 'signed' : 'signed-get'}`);
      expect(headers['webhook-id']).toBe(sent!.headers['idempotency-key']);
      expect(() => verifier.verify(sent!.body, headers)).not.toThrow();
      expect(() => verifier.verify(`${sent!.body} `, headers)).toThrow();
    }
    expect(JSON.parse(receiver.to('/signed')[0]!.body)).toEqual({ name: HOSTILE });
    const shown = JSON.stringify(record) + JSON.stringify((await h.request('POST', '/v1/call-test', { policy: 'signed', calling_number: '1', called_number: '2' })).body) + logLines.join('\n');
    expect(shown).not.toContain(SECRET);
    expect(shown).not.toContain(SECRET.slice('whsec_'.length));
  });

  it('signs with each secret during a rotation, the current one first: the signatures are the spec\'s HMACs, and either secret verifies', async () => {
    const record = await run('rotating');
    expect(record.status).toBe('completed');
    const [sent] = receiver.to('/rotating');
    const headers = { 'webhook-id': String(sent!.headers['webhook-id']), 'webhook-timestamp': String(sent!.headers['webhook-timestamp']), 'webhook-signature': String(sent!.headers['webhook-signature']) };
    // Standard Webhooks: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body", keyed with the
    // bytes the base64 after "whsec_" decodes to; several signatures are space-separated.
    const v1 = (secret: string) => `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${sent!.body}`).digest('base64')}`;
    expect(headers['webhook-signature'].split(' ')).toEqual([v1(NEW_SECRET), v1(SECRET)]);
    // A receiver verifying with either the old secret or the new one accepts it; with another it does not.
    for (const secret of [NEW_SECRET, SECRET]) expect(() => new Webhook(secret).verify(sent!.body, headers)).not.toThrow();
    expect(() => new Webhook(`whsec_${Buffer.from('a third key, not one of the two').toString('base64')}`).verify(sent!.body, headers)).toThrow();
    const shown = JSON.stringify(record) + logLines.join('\n');
    for (const secret of [NEW_SECRET, SECRET]) expect(shown).not.toContain(secret.slice('whsec_'.length));
  });

  it('sends exactly these headers: axios\'s Accept, callhook\'s own, the signature, and what Node adds', async () => {
    await run('signed');
    const names = (path: string) => Object.keys(receiver.to(path)[0]!.headers).sort();
    const common = ['accept', 'accept-encoding', 'connection', 'content-type', 'host', 'idempotency-key', 'user-agent', 'webhook-id', 'webhook-signature', 'webhook-timestamp'];
    expect(names('/signed')).toEqual([...common, 'content-length'].sort());
    expect(names('/signed-get')).toEqual(common);
    expect(receiver.to('/signed-get')[0]!.headers.accept).toBe('application/json, text/plain, */*');
  });

  it('refuses at load, naming the field: nested form values, a text body without content_type, a bad signing secret', () => {
    const problems = (yaml: string) => {
      try {
        parseConfig(yaml);
      } catch (error) {
        return (error as ConfigError).problems;
      }
      return [];
    };
    expect(problems(`
policies:
  - id: p
    apps:
      - { name: A, method: POST, url: "https://h.example/", body_format: form, body: { a: { nested: 1 } } }
      - { name: B, method: POST, url: "https://h.example/", body_format: text, body: "<x/>" }
      - { name: C, method: POST, url: "https://h.example/", body_format: text, content_type: text/plain, body: { not: text } }
      - { name: E, method: POST, url: "https://h.example/", signing: { secret: "whsec_c2hvcnQ=" } }
      - { name: F, method: POST, url: "https://h.example/", body_format: form, body: [1, 2] }
`)).toEqual([
      'policies[0].apps[0].body.a: a form field is text, a number or a boolean (nested values cannot be form-encoded)',
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.content_type: is required with body_format: text/),
      'policies[0].apps[2].body: with body_format: text, body is one template (a string), sent as it renders',
      'policies[0].apps[3].signing.secret: the key is 5 bytes; use at least 16 (24 or more random bytes, as Standard Webhooks recommends)',
      'policies[0].apps[4].body: with body_format: form, body is a map of field names to values',
    ]);
    expect(problems(`policies: [{ id: p, apps: [{ name: D, method: POST, url: "https://h.example/", signing: { secret: "not-a-whsec" } }] }]`)).toEqual([
      expect.stringMatching(/^policies\[0\]\.apps\[0\]\.signing\.secret: must be "whsec_" followed by the base64 key/),
    ]);
    // Node decodes both, but Python's b64decode refuses the first (no padding) and strict
    // decoders the second (bits past the key's last byte): every signature would fail there.
    const unpadded = SECRET.slice(0, -1);
    const looseBits = `${unpadded}=`;
    expect(Buffer.from(unpadded.slice(6), 'base64')).toHaveLength(23);
    expect(problems(`policies: [{ id: p, apps: [
      { name: U, method: POST, url: "https://h.example/", signing: { secret: "${unpadded}" } },
      { name: L, method: POST, url: "https://h.example/", signing: { secret: "${looseBits}" } } ] }]`)).toEqual([
      'policies[0].apps[0].signing.secret: the key after "whsec_" is not canonical base64: its 31 characters are not a multiple of 4 (base64 is padded with "="), ' +
        'so receivers\' Standard Webhooks libraries in other languages may refuse it. Copy the secret exactly as the receiver gave it, padding included, or make a new one: "whsec_" followed by the output of `openssl rand -base64 32`',
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.signing\.secret: the key after "whsec_" is not canonical base64: its last character has bits set that no key has, /),
    ]);
    // A list of secrets (a rotation): each checked like the one, at its own index.
    const app = (signing: string) => `policies: [{ id: p, apps: [{ name: R, method: POST, url: "https://h.example/", signing: ${signing} }] }]`;
    expect(problems(app(`{ secrets: ["${NEW_SECRET}", "${unpadded}"] }`))).toEqual([expect.stringMatching(/^policies\[0\]\.apps\[0\]\.signing\.secrets\[1\]: the key after "whsec_" is not canonical base64: its 31 characters/)]);
    expect(problems(app(`{ secrets: ["${NEW_SECRET}", "whsec_c2hvcnQ="] }`))).toEqual(['policies[0].apps[0].signing.secrets[1]: the key is 5 bytes; use at least 16 (24 or more random bytes, as Standard Webhooks recommends)']);
    expect(problems(app(`{ secrets: [] }`))).toEqual(['policies[0].apps[0].signing.secrets: needs at least one secret (the current one first)']);
    expect(problems(app(`{ secret: "${SECRET}", secrets: ["${NEW_SECRET}"] }`))).toEqual(['policies[0].apps[0].signing: give `secret`, or `secrets` (a list, the current secret first) while a receiver changes secrets; one of them, not both']);
    expect(problems(app(`{}`))).toEqual(['policies[0].apps[0].signing: give `secret`, or `secrets` (a list, the current secret first) while a receiver changes secrets; one of them, not both']);
    // A JSON text's closing "}" right after "}}" reads as "}}}": the message says what to write.
    expect(problems(`policies: [{ id: p, apps: [{ name: J, method: POST, url: "https://h.example/", body_format: text, content_type: application/json, body: '{"name": {{ json event.calling_name }}}' }] }]`)).toEqual([
      'policies[0].apps[0].body: template does not compile: Parse error on line 1 after "... event.calling_name": expected }}, (, a name, a string, a number, true or false, undefined, null or an @name, got }}} (to write "}" right after "}}", add a space: "}} }")',
    ]);
  });
});
