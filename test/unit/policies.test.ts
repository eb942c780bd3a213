import fc from 'fast-check';
import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/policies/load';
import { resolvePolicy } from '../../src/policies/resolve';
import { renderBody, type BodyNode } from '../../src/templates/body';
import { makeEvent } from '../helpers/events';

const problemsOf = (yaml: string, env: Record<string, string> = {}): string[] => {
  try {
    parseConfig(yaml, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

const minimalApp = (extra = '') => `
policies:
  - id: p
    apps:
      - name: CRM Lookup
        url: https://crm.example.com/x
${extra}`;

describe('loading policies', () => {
  it('applies the product defaults', () => {
    const [app] = parseConfig(minimalApp()).policies[0]?.apps ?? [];
    expect(app).toMatchObject({
      slug: 'crm-lookup', phase: 'post_call', method: 'GET', timeoutMs: 30_000, retryCount: 3, retryDelayMs: 1000,
      onFailure: 'continue', maxResponseBytes: 1024 * 1024, auth: { type: 'none' },
    });
  });

  it('reads JSON as well as YAML, and the list form of headers and query', () => {
    const json = JSON.stringify({
      policies: [{ id: 'p', apps: [{ name: 'A', url: 'https://h.example/', method: 'post', timeout: '5s', retry_delay: 250,
        headers: [{ key: 'X-Custom-Header', value: '{{ event.calling_number }}' }], query: [{ key: 'q', value: 1 }], body: '{"a": "{{ event.calling_number }}"}' }] }],
    });
    const app = parseConfig(json).policies[0]?.apps[0];
    expect(app?.method).toBe('POST');
    expect(app?.timeoutMs).toBe(5000);
    expect(app?.retryDelayMs).toBe(250);
    expect(app?.headers.map(([k]) => k)).toEqual(['X-Custom-Header']);
    expect(app?.query[0]?.[1].source).toBe('1');
    expect(app?.body).toMatchObject({ format: 'json', node: { kind: 'object' } });
  });

  it('orders apps by order, ties keeping file order', () => {
    const config = parseConfig(`
policies:
  - id: p
    apps:
      - { name: c, order: 50, url: "https://h.example/c" }
      - { name: a, order: 10, url: "https://h.example/a" }
      - { name: d, order: 50, url: "https://h.example/d" }
      - { name: b, order: 20, url: "https://h.example/b" }`);
    expect(config.policies[0]?.apps.map((a) => a.slug)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('substitutes ${ENV} and treats the values as secrets', () => {
    const config = parseConfig(minimalApp('        auth: { type: bearer, token: "${CRM_TOKEN}" }'), { CRM_TOKEN: 'tok-123456' });
    expect(config.policies[0]?.apps[0]?.auth).toEqual({ type: 'bearer', token: 'tok-123456' });
    expect(config.secrets).toContain('tok-123456');
  });

  it('is frozen', () => {
    const config = parseConfig(minimalApp());
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.policies[0]?.apps[0])).toBe(true);
  });

  it('caps an app timeout at an hour (past 2^31 ms a timer would fire at once)', () => {
    expect(parseConfig(minimalApp('        timeout: 1h')).policies[0]?.apps[0]?.timeoutMs).toBe(3_600_000);
    expect(problemsOf(minimalApp('        timeout: 30d'))).toEqual([expect.stringMatching(/timeout: "30d" is longer than the 1h allowed/)]);
  });

  it('caps a real-time app\'s max_response_bytes at 16 MiB (its response is read while the call waits)', () => {
    const realTime = (bytes: number) => minimalApp(`        phase: real_time\n        max_response_bytes: ${bytes}`);
    expect(parseConfig(realTime(16 * 1024 * 1024)).policies[0]?.apps[0]?.maxResponseBytes).toBe(16_777_216);
    expect(problemsOf(realTime(900_000_000))).toEqual([
      'policies[0].apps[0].max_response_bytes: is over 16777216 (16 MiB), the most a real-time app may read: its response is read while the call waits, in the API\'s memory; lower it (the default is 1048576)',
    ]);
    // A post-call app is read by a worker, one call per slot: not capped.
    expect(parseConfig(minimalApp('        max_response_bytes: 900000000')).policies[0]?.apps[0]?.maxResponseBytes).toBe(900_000_000);
  });

  it('reports every problem with its path', () => {
    const problems = problemsOf(`
policies:
  - id: Bad_Id
    apps:
      - name: A
        url: "https://{{ event.host }}/x"
      - name: B
        url: https://h.example/
        method: FETCH
        timeout: soon
        auth: { type: bearer }
        body: "{not json"
      - name: C
        url: https://h.example/{{ event.x
        headers: { X-Token: "\${MISSING}" }
        typo_field: 1`);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^policies\[0\]\.apps\[2\]\.headers\.X-Token: environment variable MISSING is not set/),
      expect.stringMatching(/^policies\[0\]\.id: /),
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.method: /),
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.timeout: "soon" is not a duration/),
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.auth\.token: /),
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.body: not valid JSON text/),
      expect.stringMatching(/^policies\[0\]\.apps\[2\]: .*typo_field/),
    ]));
  });

  it('says only "is not set" of a field whose variable is missing, not what the check made of it without', () => {
    const problems = problemsOf(`
policies:
  - id: p
    apps:
      - { name: A, url: "\${BASE}/x", auth: { type: bearer, token: "\${CT_TOKEN}" }, timeout: "\${TIMEOUT}" }
      - { name: B, url: https://h.example/, signing: { secret: "\${CT_SIGNING}" } }
      - { name: C, url: https://h.example/, auth: { type: bearer, token: "" } }
      - { name: D, url: ftp://h.example/ }`);
    expect(problems).toEqual([
      'policies[0].apps[0].url: environment variable BASE is not set',
      'policies[0].apps[0].auth.token: environment variable CT_TOKEN is not set',
      'policies[0].apps[0].timeout: environment variable TIMEOUT is not set',
      'policies[0].apps[1].signing.secret: environment variable CT_SIGNING is not set',
      // The same problems on fields with no variable in them are still shown.
      expect.stringMatching(/^policies\[0\]\.apps\[2\]\.auth\.token: /),
      'policies[0].apps[3].url: must start with http:// or https://',
    ]);
  });

  it('names the missing key or value of a list-form header or query parameter', () => {
    expect(problemsOf(minimalApp(`        headers: [{ key: X-A }]
        query: [{ key: a, value: 1 }, { value: 1 }]`))).toEqual([
      'policies[0].apps[0].headers[0].value: Invalid input: expected text, a number or a boolean, received undefined',
      'policies[0].apps[0].query[1].key: Invalid input: expected string, received undefined',
    ]);
    expect(problemsOf(minimalApp('        headers: "X-A: 1"'))).toEqual([
      'policies[0].apps[0].headers: expected a map of names to values, or a list of {key, value}; received string',
    ]);
  });

  it('refuses a header value with a control character that call data does not bring, written or from ${ENV}', () => {
    const file = (headers: unknown, auth: unknown = { type: 'none' }) =>
      JSON.stringify({ policies: [{ id: 'p', apps: [{ name: 'A', url: 'https://h.example/', headers, auth }] }] });
    const refused = /^policies\[0\]\.apps\[0\]\.(headers\.X-A|auth\.token): contains a control character \(CR, LF, NUL\.\.\.\) that no header can carry/;
    const env = { KEY: 'key-8877zz\r\n', TOKEN: 'tok-12345\n' };
    expect(problemsOf(file({ 'X-A': 'line1\nline2' }))).toEqual([expect.stringMatching(refused)]);
    expect(problemsOf(file([{ key: 'X-A', value: '${KEY}' }]), env)).toEqual([expect.stringMatching(refused)]);
    expect(problemsOf(file({ 'X-A': 'id-{{ event.call_id }}-${KEY}' }), env)).toEqual([expect.stringMatching(refused)]);
    expect(problemsOf(file({}, { type: 'bearer', token: '${TOKEN}' }), env)).toEqual([expect.stringMatching(refused)]);
    // Text that call data decides is checked when it renders, with the data.
    for (const value of ['{{ event.x }}', '{{#if event.x}}a\nb{{/if}}', 'a\n{{~ event.x }}', '{{#each event.list}}{{ this }}\r\n{{/each}}']) {
      expect(() => parseConfig(file({ 'X-A': value }))).not.toThrow();
    }
  });

  it('circuit.max_wait is by default the longest the app\'s own retries could take; one written in the file wins', () => {
    const [plain, quick, once, patient] = parseConfig(`
policies:
  - id: p
    apps:
      - { name: Plain, url: "https://h.example/a" }
      - { name: Quick, url: "https://h.example/b", timeout: 2s, retry_count: 2, retry_delay: 100ms, retry_jitter: 0 }
      - { name: Once, url: "https://h.example/c", timeout: 5s, retry_count: 0 }
      - { name: Patient, url: "https://h.example/d", retry_count: 0, circuit: { max_wait: 2h } }`).policies[0]!.apps;
    // Each attempt's timeout, each retry at the longest it can be told to wait (Retry-After at 5 min, plus jitter).
    expect(plain!.circuit).toEqual({ failures: 5, openForMs: 30_000, maxWaitMs: 30_000 + 3 * (360_000 + 30_000) }); // 20 min
    expect(quick!.circuit).toMatchObject({ maxWaitMs: 2000 + 2 * (300_000 + 2000) });
    expect(once!.circuit).toMatchObject({ maxWaitMs: 5000 });
    expect(patient!.circuit).toMatchObject({ maxWaitMs: 7_200_000 });
  });

  it('reads the delivery controls: rate_limit, rate_limit_key, circuit (on by default, false turns it off), retry_jitter', () => {
    const [limited, free] = parseConfig(`
policies:
  - id: p
    apps:
      - { name: A, url: "https://chat.example/x", rate_limit: 30/m, rate_limit_key: "chat-{{ event.called_number }}", circuit: { failures: 3, open_for: 10s }, retry_jitter: 0 }
      - { name: B, url: "https://{{ event.host }}/x", allow_templated_host: true, circuit: false }`).policies[0]!.apps;
    expect(limited).toMatchObject({ rateLimit: { count: 30, periodMs: 60_000, intervalMs: 2000 }, circuit: { failures: 3, openForMs: 10_000, maxWaitMs: 1_020_000 }, retryJitter: 0, destination: 'https://chat.example:443' });
    expect(limited!.rateLimitKey?.render({ event: { called_number: '1000' } as never, app_data: {} })).toBe('chat-1000');
    expect(free).toMatchObject({ rateLimit: undefined, circuit: false, retryJitter: 0.2, destination: undefined });
    const problems = problemsOf(`
policies:
  - id: p
    apps:
      - { name: A, url: "https://h.example/", rate_limit: fast }
      - { name: B, url: "https://h.example/", rate_limit: 0/s }
      - { name: D, url: "https://h.example/", circuit: { failures: 0 } }
      - { name: E, url: "https://h.example/", retry_jitter: 2 }`);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^policies\[0\]\.apps\[0\]\.rate_limit: /),
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.rate_limit: /),
      expect.stringMatching(/^policies\[0\]\.apps\[2\]\.circuit\.failures: /),
      expect.stringMatching(/^policies\[0\]\.apps\[3\]\.retry_jitter: /),
    ]));
    // A real-time app cannot wait for a slot: a limit there is refused, not ignored.
    expect(problemsOf(`
policies:
  - id: p
    apps:
      - { name: C, phase: real_time, url: "https://h.example/", rate_limit: 1/s }`)).toEqual([expect.stringMatching(/^policies\[0\]\.apps\[0\]\.rate_limit: /)]);
  });

  it('refuses delivery settings that cannot work, each at its path', () => {
    const problems = problemsOf(`
policies:
  - id: p
    apps:
      - { name: A, url: "https://h.example/", timeout: 0 }
      - { name: B, url: "https://h.example/", timeout: 0.5 }
      - { name: C, url: "https://h.example/", circuit: { open_for: 0 } }
      - { name: D, url: "http://h.example/", tls: { reject_unauthorized: false } }
      - { name: E, url: "https://h.example/", rate_limit_key: chat }
      - { name: F, url: "https://h.example/", retry_delay: 2h }
      - { name: G, url: "https://h.example/", rate_limit: 1/s, rate_limit_key: slack }
  - id: q
    apps:
      - { name: H, url: "https://h.example/", rate_limit: 100/s, rate_limit_key: slack }
      - { name: I, url: "https://h.example/", rate_limit: 1/s, rate_limit_key: slack }
      - { name: J, url: "https://h.example/", rate_limit: 100/s, rate_limit_key: "slack-{{ event.called_number }}" }`);
    expect(problems).toEqual([
      'policies[0].apps[0].timeout: must be more than 0',
      'policies[0].apps[1].timeout: 0.5 is not a whole number of milliseconds (a number is ms; for seconds write "0.5s")',
      'policies[0].apps[2].circuit.open_for: must be more than 0',
      'policies[0].apps[5].retry_delay: "2h" is longer than the 1h allowed',
      'policies[0].apps[3].tls: applies to https:// URLs only; this one is http://, sent without TLS',
      'policies[0].apps[4].rate_limit_key: needs a rate_limit: the key names the limit the app shares, and the app gives its rate',
      'policies[1].apps[0].rate_limit: 100/s, but policies[0].apps[6] gives 1/s for the same rate_limit_key "slack": apps sharing a key share one limit, so give them the same rate',
    ]);
    // Durations written with a unit may have a fraction; the rule and its durations are read as before.
    expect(parseConfig(minimalApp('        timeout: 1.5s\n        circuit: { open_for: 90s }')).policies[0]?.apps[0]).toMatchObject({ timeoutMs: 1500, circuit: { openForMs: 90_000, failures: 5 } });
  });

  it('reports template, host and slug problems after the schema passes', () => {
    const problems = problemsOf(`
policies:
  - id: p
    match: { called_number: "([" }
    apps:
      - { name: A, url: "https://{{ event.host }}/x" }
      - { name: B, url: "https://h.example/{{ event.x" }
      - { name: a, url: "https://h.example/" }
      - { name: C, url: "https://h.example/", method: GET, body: { a: 1 } }
  - id: p
    apps: []`);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^policies\[0\]\.match\.called_number: /),
      expect.stringMatching(/^policies\[0\]\.apps\[0\]\.url: scheme, host and port must be literal/),
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.url: template does not compile/),
      expect.stringMatching(/^policies\[0\]\.apps\[2\]\.name: slug "a" is already used by apps\[0\]/),
      expect.stringMatching(/^policies\[0\]\.apps\[3\]\.body: a GET request carries no body/),
      expect.stringMatching(/^policies\[1\]\.id: "p" is used by an earlier policy/),
    ]));
  });

  it('reports the compile problems of the parts that pass the schema beside the schema problems', () => {
    const problems = problemsOf(`
policies:
  - id: p
    matches: typo
    match: { called_number: "([" }
    apps:
      - { name: A, url: "ftp://x.example/a" }
      - { name: B, url: "https://h.example/", retry_count: "x" }
      - { name: C, url: "https://h.example/", auth: { type: bearer, token: ab } }
      - { name: c, url: "https://h.example/", method: GET, body: { a: 1 } }
      - { name: D, url: "https://h.example/{{ event.x" }
    curri: { action: "{{#if event.x}}" }
  - id: p
    apps: [{ name: A, url: "https://h.example/", timeout: soon }]`);
    expect(problems).toHaveLength(11);
    expect(problems).toEqual(expect.arrayContaining([
      'policies[0]: Unrecognized key: "matches"',
      expect.stringMatching(/^policies\[0\]\.apps\[0\]\.url: must start with http:\/\/ or https:\/\//),
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.retry_count: /),
      expect.stringMatching(/^policies\[0\]\.apps\[2\]\.auth\.token: a secret of fewer than/),
      'policies[0].apps[3].body: a GET request carries no body; use POST',
      'policies[0].apps[3].name: slug "c" is already used by apps[2]; give this app its own `slug:` (its result is app_data.<slug>)',
      expect.stringMatching(/^policies\[0\]\.apps\[4\]\.url: template does not compile/),
      expect.stringMatching(/^policies\[0\]\.curri\.action: template does not compile/),
      expect.stringMatching(/^policies\[0\]\.match\.called_number: /),
      expect.stringMatching(/^policies\[1\]\.apps\[0\]\.timeout: "soon" is not a duration/),
      'policies[1].id: "p" is used by an earlier policy',
    ]));
  });

  it('says on one line what is wrong with a template that does not parse', () => {
    const problems = problemsOf(`
policies:
  - id: p
    apps:
      - { name: A, url: "https://h.example/", when: "{{#if event.x}}yes" }
      - { name: B, url: "https://h.example/", method: POST, body: { a: "{{#if event.x}}{{/each}}" } }
      - { name: C, url: "https://h.example/", message: "{{ event.x y=}}" }`);
    expect(problems).toEqual([
      'policies[0].apps[0].when: template does not compile: Parse error on line 1 after "{{#if event.x}}yes": expected {{else …, {{else}} or {{/…}}, got the end of the template',
      'policies[0].apps[1].body: template does not compile: {{/each}} does not close {{#if}}, opened on line 1',
      expect.stringMatching(/^policies\[0\]\.apps\[2\]\.message: template does not compile: Parse error on line 1 after "\{\{ event\.x y=": expected .*a name.*, got \}\}$/),
    ]);
  });

  it('allows a templated host only when the app opts in', () => {
    expect(() => parseConfig(minimalApp().replace('https://crm.example.com/x', 'http://{{ app_data.phone-discovery.data.phone.ip }}/x') + '        allow_templated_host: true\n')).not.toThrow();
  });

  it('reports a YAML syntax error', () => {
    expect(problemsOf('policies: [')[0]).toMatch(/YAML syntax/);
  });

  it('reports an alias with no anchor as a YAML problem, not a raw ReferenceError', () => {
    expect(problemsOf('policies:\n  - id: *a\n')).toEqual([expect.stringMatching(/^inline: YAML syntax: Unresolved alias/)]);
  });
});

describe('${NAME} values are values, never template source', () => {
  const appOf = (app: Record<string, unknown>, env: Record<string, string>) =>
    parseConfig(JSON.stringify({ policies: [{ id: 'p', apps: [{ name: 'A', method: 'POST', url: 'https://h.example/', ...app }] }] }), env).policies[0]!.apps[0]!;
  const textBody = (body: string, env: Record<string, string>) => {
    const app = appOf({ body_format: 'text', content_type: 'text/plain', body }, env);
    return (app.body as { template: { render(scope: object): string } }).template.render({ event: { a: 'A' } });
  };

  it.each(['s3cr3t{{x', 'tok\\{{en-123', 'tok{{!en}}-123', 'p@ss{{word}}x', 'a\\\\{{b', 'ends\\', 'ends{', '{{{{raw}}}}', '{{> p}}', '}}{{'])('%j is sent as it is in a header, a query, a body and a URL', (value) => {
    const app = appOf({ url: 'https://h.example/${V}/{{ event.a }}', headers: { 'X-Api-Key': '${V}' }, query: [{ key: 'k', value: '${V}{{ event.a }}' }], body: { pw: '${V}', at: '{${V}{{ event.a }}' } }, { V: value });
    const scope = { event: { a: 'A' } };
    expect(app.headers[0]![1].render(scope)).toBe(value);
    expect(app.query[0]![1].render(scope)).toBe(`${value}A`);
    expect(app.url.render(scope)).toBe(`https://h.example/${value}/A`);
    expect(renderBody((app.body as { node: BodyNode }).node, scope, new Set())).toEqual({ pw: value, at: `{${value}A` });
  });

  it('renders any value as it is, wherever it stands in a template', () => {
    const tokens = ['{{', '}}', '\\', '{', '}', '!', '~', ' ', '\n', '-', 'a', '{{!--', '{{{{', '>', '#*', 'else'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...tokens), { minLength: 1, maxLength: 10 }), fc.constantFrom('', 'x', 'x\\', 'x{', 'x\n'), fc.constantFrom('', 'y', '{{ event.a }}', '\\y', '{y', ' {{ event.a }}'), (parts, before, after) => {
        const value = parts.join('');
        expect(textBody(`${before}\${V}${after}`, { V: value })).toBe(before + value + after.replace('{{ event.a }}', 'A'));
      }),
      { numRuns: 2000 },
    );
  });

  it('in a body written as JSON text, once the JSON is parsed', () => {
    const app = appOf({ body: '{"pw": "${V}", "n": "{{ event.a }}${V}"}' }, { V: 'a{{b}}{{{c{' });
    expect(renderBody((app.body as { node: BodyNode }).node, { event: { a: 'A' } }, new Set())).toEqual({ pw: 'a{{b}}{{{c{', n: 'Aa{{b}}{{{c{' });
  });

  it('keeps the value as it is in a field that is not a template (auth), as in one that is', () => {
    const app = appOf({ auth: { type: 'basic', username: 'u', password: '${V}' }, rate_limit_key: 'k-${V}', rate_limit: '1/s' }, { V: 'p{{w\\' });
    expect(app.auth).toEqual({ type: 'basic', username: 'u', password: 'p{{w\\' });
    expect(app.rateLimitKey!.render({})).toBe('k-p{{w\\');
  });
});

describe('a policies file\'s problems show no secret', () => {
  const env = { API_KEY: 's3cr3t-k3y{{x', DB_PASSWORD: 'hunter2-long-enough' };

  it('hides a secret a problem quotes', () => {
    expect(problemsOf(minimalApp('        timeout: "${API_KEY}"'), env)).toEqual(['policies[0].apps[0].timeout: "[REDACTED]" is not a duration (use ms, or 250ms, 5s, 2m, 1h, 7d)']);
  });

  it('leaves out the text of a template a secret was substituted into', () => {
    const problems = problemsOf(minimalApp('        headers: { X-Api-Key: "${API_KEY} {{ oops", X-Plain: "plain {{ oops" }\n        method: POST\n        body: { pw: "{{#if event.a}}${DB_PASSWORD}{{/if}} {{ oops" }'), env);
    expect(problems).toEqual([
      'policies[0].apps[0].headers.X-Api-Key: template does not compile: Parse error on line 1: expected a name, a string, a number, true or false, undefined, null or an @name, got something it cannot read',
      'policies[0].apps[0].headers.X-Plain: template does not compile: Parse error on line 1 after "plain {{": expected a name, a string, a number, true or false, undefined, null or an @name, got something it cannot read',
      'policies[0].apps[0].body: template does not compile: Parse error on line 1: expected a name, a string, a number, true or false, undefined, null or an @name, got something it cannot read',
    ]);
  });
});

describe('choosing the policy for a call', () => {
  const config = parseConfig(`
policies:
  - { id: named-only, apps: [] }
  - { id: sales, match: { called_number: "^1[0-9]{3}$" }, apps: [] }
  - { id: vip, match: { called_number: "^1", calling_name: "VIP" }, apps: [] }
  - { id: default, apps: [] }`);

  it('uses the policy the event names', () => {
    expect(resolvePolicy(config, makeEvent({ policy: 'named-only' }))?.id).toBe('named-only');
    expect(resolvePolicy(config, makeEvent({ policy: 'nope' }))).toBeUndefined();
  });
  it('takes the first policy whose match holds, in file order', () => {
    expect(resolvePolicy(config, makeEvent({ called_number: '1234', calling_name: 'VIP' }))?.id).toBe('sales');
    expect(resolvePolicy(config, makeEvent({ called_number: '12345', calling_name: 'VIP guest' }))?.id).toBe('vip');
  });
  it('falls back to default, and to nothing without one', () => {
    expect(resolvePolicy(config, makeEvent({ called_number: '999' }))?.id).toBe('default');
    const noDefault = parseConfig('policies: [{ id: a, match: { called_number: "^1" }, apps: [] }]');
    expect(resolvePolicy(noDefault, makeEvent({ called_number: '999' }))).toBeUndefined();
  });
  it('matches a dotted path through nested objects, such as a raw CDR field', () => {
    const byPartition = parseConfig(`
policies:
  - { id: recorders, match: { cdr.finalCalledPartyNumberPartition: "^InformLabRecording$", called_number: "^503" }, apps: [] }
  - { id: other, match: { quality.orig.vq.MLQK: "^4" }, apps: [] }`);
    const event = (extra: Record<string, unknown>) => makeEvent({ called_number: '5030079981', ...extra });
    expect(resolvePolicy(byPartition, event({ cdr: { finalCalledPartyNumberPartition: 'InformLabRecording' } }))?.id).toBe('recorders');
    expect(resolvePolicy(byPartition, event({ cdr: { finalCalledPartyNumberPartition: 'OnNet' } }))).toBeUndefined();
    expect(resolvePolicy(byPartition, event({ quality: { orig: { vq: { MLQK: 4.5 } }, dest: null } }))?.id).toBe('other');
    // A path through a missing, null, text or array value resolves to nothing.
    for (const cdr of [undefined, null, 'InformLabRecording', ['InformLabRecording']]) expect(resolvePolicy(byPartition, event({ cdr }))).toBeUndefined();
  });
  it("never reads a match field from an object's prototype", () => {
    const config = parseConfig(`
policies:
  - { id: top, match: { constructor: "Object" }, apps: [] }
  - { id: nested, match: { cdr.constructor: "." }, apps: [] }
  - { id: proto, match: { cdr.__proto__.toString: "." }, apps: [] }
  - { id: method, match: { cdr.hasOwnProperty: "." }, apps: [] }`);
    expect(resolvePolicy(config, makeEvent({ cdr: { pkid: 'x' } }))).toBeUndefined();
    // An own field of that name is data like any other.
    expect(resolvePolicy(config, makeEvent({ cdr: { constructor: 'x' } }))?.id).toBe('nested');
  });
  it('refuses a match field with an empty path segment', () => {
    expect(problemsOf('policies: [{ id: a, match: { "cdr.": "x", ".cdr": "x", "a..b": "x" }, apps: [] }]')).toEqual([
      'policies[0].match.cdr.: is not a field name or a dotted path such as cdr.finalCalledPartyNumberPartition',
      'policies[0].match..cdr: is not a field name or a dotted path such as cdr.finalCalledPartyNumberPartition',
      'policies[0].match.a..b: is not a field name or a dotted path such as cdr.finalCalledPartyNumberPartition',
    ]);
  });
});

/** Problems of a file, each with the file name and its line, as `config check` prints them. */
const fileProblemsOf = (yaml: string, env: Record<string, string> = {}): string[] => {
  try {
    parseConfig(yaml, env, 'policies.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('what a first edit of the policies file gets wrong', () => {
  it('refuses an unquoted template, at its field and line, without the YAML library\'s warning', () => {
    const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const problems = fileProblemsOf(`
policies:
  - id: p
    apps:
      - name: A
        url: https://h.example/
        method: POST
        when: {{ event.vip }}
        headers: { X-Caller: {{ event.calling_number }} }
        body:
          text: {{ event.calling_number }}
          list: [ {{ event.called_number }} ]
`);
      expect(problems).toEqual([
        'policies.yaml:8: policies[0].apps[0].when: a template must be quoted in YAML: "{{ event.vip }}"',
        'policies.yaml:9: policies[0].apps[0].headers.X-Caller: a template must be quoted in YAML: "{{ event.calling_number }}"',
        'policies.yaml:11: policies[0].apps[0].body.text: a template must be quoted in YAML: "{{ event.calling_number }}"',
        'policies.yaml:12: policies[0].apps[0].body.list[0]: a template must be quoted in YAML: "{{ event.called_number }}"',
      ]);
      expect(emitWarning).not.toHaveBeenCalled();
      // Any other map or list as a key is no template, and is said so.
      expect(problemsOf('policies:\n  - id: p\n    match: { [a, b]: x }\n')).toEqual(['policies[0].match: a key must be text, not a map or a list']);
    } finally {
      emitWarning.mockRestore();
    }
  });

  it.each([
    ['$CRM_TOKEN', '"$CRM_TOKEN" would be sent as written, not read from the environment: write "${CRM_TOKEN}"'],
    ['${ CRM_TOKEN }', '"${ CRM_TOKEN }" would be sent as written, not read from the environment: write "${CRM_TOKEN}"'],
    ['${CRM-TOKEN}', '"${CRM-TOKEN}" would be sent as written, not read from the environment: write "${CRM_TOKEN}"'],
    ['{{ env.CRM_TOKEN }}', '"{{ env.CRM_TOKEN }}" would be sent as written, not read from the environment: write "${CRM_TOKEN}"'],
    ['{{ event.token }}', 'is not a template: to take it from the environment write "${NAME}"'],
    ['tok-${CRM_TOKEN', 'holds a "${" that is no ${NAME} reference (letters, digits and "_", then "}"), so it would be sent as written; a secret that really holds "${" comes from an environment variable: write "${NAME}"'],
  ])('refuses the botched reference %j in a credential, saying what to write', (token, problem) => {
    expect(problemsOf(minimalApp(`        auth: { type: bearer, token: ${JSON.stringify(token)} }`))).toEqual([`policies[0].apps[0].auth.token: ${problem}`]);
  });

  it('checks every credential field, signing secrets too, and keeps a real secret that holds a "$"', () => {
    expect(problemsOf(minimalApp('        auth: { type: basic, username: "$CRM_USER", password: "${CRM PASS}" }\n        signing: { secrets: ["$WEBHOOK_SECRET"] }'))).toEqual([
      'policies[0].apps[0].auth.username: "$CRM_USER" would be sent as written, not read from the environment: write "${CRM_USER}"',
      expect.stringMatching(/^policies\[0\]\.apps\[0\]\.auth\.password: holds a "\$\{" that is no/),
      'policies[0].apps[0].signing.secrets[0]: "$WEBHOOK_SECRET" would be sent as written, not read from the environment: write "${WEBHOOK_SECRET}"',
    ]);
    for (const password of ['pa$$w0rd', '$ecret!2024', '$lower_case', 'x$CRM_TOKEN', 'a{b}$c']) {
      expect(parseConfig(minimalApp(`        auth: { type: basic, username: u, password: ${JSON.stringify(password)} }`)).policies[0]?.apps[0]?.auth).toMatchObject({ password });
    }
    // A secret that holds "${" comes from a variable: its value is never read for references.
    const fromEnv = parseConfig(minimalApp('        auth: { type: bearer, token: "${CRM_TOKEN}" }'), { CRM_TOKEN: 'tok-${x' });
    expect(fromEnv.policies[0]?.apps[0]?.auth).toEqual({ type: 'bearer', token: 'tok-${x' });
  });

  it('warns of policies no call reaches: a misspelt match field, no match on a policy that is not default, no policy at all', () => {
    const config = parseConfig(`
policies:
  - { id: sales, match: { caled_number: "^1[0-9]{3}$" }, apps: [] }
  - { id: custom, match: { site: "^paris$", cdr.origDeviceName: "^SEP", quality.orig.vq.MLQK: "." }, apps: [] }
  - { id: named, apps: [] }
  - { id: default, apps: [] }`, {}, 'policies.yaml');
    expect(config.warnings).toEqual([
      'policies.yaml:3: policies[0].match.caled_number: events have no standard field "caled_number" (did you mean called_number?), so this policy matches only events that carry it',
      'policies.yaml:5: policies[2]: has no `match` and is not `default`, so it runs only for events that name it ("policy": "named")',
    ]);
    expect(parseConfig('policies: []\n', {}, 'policies.yaml').warnings).toEqual([
      'policies.yaml:1: policies: the list is empty, so every call ends `unmatched`; add a policy (a `default` one takes every call no other policy matches)',
    ]);
  });

  it('warns of template references that can never resolve, as Call Test would hint them', () => {
    const config = parseConfig(`
policies:
  - id: default
    apps:
      - name: CRM Lookup
        order: 30
        url: "https://crm.example.com/{{ event.caling_number }}/{{ event.site_code }}"
        headers: { X-Ticket: "{{ app_data.slack-notify.data.id }}" }
        message: "{{ data.name }} {{ http_status }} {{ calling_number }}"
      - name: Slack Notify
        order: 80
        method: POST
        url: https://hooks.example.com/x
        when: "{{ app_data.crm-lokup.data.vip }}"
        body: { name: "{{ app_data.crm-lookup.data.name }}", caller: "{{ app_data.caller-id.data.name }}", id: "{{ app_data.slack-notify.data.id }}" }
      - { name: Caller ID, phase: real_time, order: 90, url: "https://h.example/{{ app_data.crm-lookup.data.x }}" }
    curri: { calling_name: "{{ app_data.caller-id.data.name }} {{ app_data.crm-lookup.data.name }}" }`, {}, 'policies.yaml');
    expect(config.warnings).toEqual([
      'policies.yaml:7: policies[0].apps[0].url: event.caling_number is not a standard event field (did you mean event.calling_number?); it renders empty unless events carry it',
      'policies.yaml:8: policies[0].apps[0].headers.X-Ticket: app_data.slack-notify.data.id: app `slack-notify` runs after this one (`slack-notify` is post_call, order 80; this app is post_call, order 30), so it is empty',
      'policies.yaml:9: policies[0].apps[0].message: {{ calling_number }}: "calling_number" is not in scope (use event.* or app_data.*); it always renders empty',
      'policies.yaml:15: policies[0].apps[1].body: app_data.slack-notify.data.id: this is the app itself: its result is not there while it runs',
      'policies.yaml:14: policies[0].apps[1].when: app_data.crm-lokup.data.vip: policy default has no app with that slug (did you mean `crm-lookup`?), so it is empty unless the event brings app_data.crm-lokup',
      'policies.yaml:16: policies[0].apps[2].url: app_data.crm-lookup.data.x: app `crm-lookup` runs after this one (`crm-lookup` is post_call, order 30; this app is real_time, order 90), so it is empty',
      'policies.yaml:17: policies[0].curri.calling_name: app_data.crm-lookup.data.name: `crm-lookup` is post_call, and CUCM\'s answer is made after the real-time apps only, so it is empty',
    ]);
  });

  it('names the file and the line of each problem, and the first holder of a clashing slug', () => {
    expect(fileProblemsOf(`
policies:
  - id: sales
    apps:
      - { name: CRM, url: "https://h.example/a" }
      - { name: crm, url: "https://h.example/b" }
      - { name: Crm, url: "https://h.example/c" }
  - id: sales
    apps: []`)).toEqual([
      'policies.yaml:6: policies[0].apps[1].name: slug "crm" is already used by apps[0]; give this app its own `slug:` (its result is app_data.<slug>)',
      'policies.yaml:7: policies[0].apps[2].name: slug "crm" is already used by apps[0]; give this app its own `slug:` (its result is app_data.<slug>)',
      'policies.yaml:8: policies[1].id: "sales" is used by an earlier policy',
    ]);
  });

  it('says where a YAML syntax error is without a dangling colon, and what an empty file needs', () => {
    expect(fileProblemsOf('policies:\n  - id: p\n    apps: [\n')).toEqual([
      expect.stringMatching(/^policies\.yaml:4:1: YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a \]$/),
    ]);
    for (const empty of ['', '# nothing yet\n']) expect(fileProblemsOf(empty)).toEqual(['policies.yaml: the file is empty: it needs a `policies:` list']);
  });
});
