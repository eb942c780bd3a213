import fc from 'fast-check';
import Handlebars from 'handlebars';
import { compileBody, renderBody } from '../../src/templates/body';
import { compileTemplate, compileUrlTemplate, encodeRfc3986 } from '../../src/templates/engine';
import { checkRenderedOrigin } from '../../src/templates/origin';
import { checkRenderedUrl, headersOnTheWire, renderHeaders, renderUrl } from '../../src/templates/request';
import { parseConfig } from '../../src/policies/load';
import type { WebhookApp } from '../../src/policies/types';
import { renderRequest } from '../../src/webhook/send';
import { RequestTooLargeError, TemplateError } from '../../src/errors';
import { HOSTILE_NAMES } from '../helpers/events';

const scope = (event: Record<string, unknown>, app_data: Record<string, unknown> = {}) => ({ event, app_data });

describe('query encoding (RFC 3986)', () => {
  it('encodes a lone surrogate as U+FFFD rather than failing', () => {
    expect(encodeRfc3986('a\uD800b\uDC00')).toBe('a%EF%BF%BDb%EF%BF%BD');
    expect(encodeRfc3986('🙂')).toBe('%F0%9F%99%82');
  });

  it('encodes the product example exactly', () => {
    expect(encodeRfc3986('+1 (555) 123-4567')).toBe('%2B1%20%28555%29%20123-4567');
    const url = renderUrl(compileUrlTemplate('https://crm.example.com/search'), [['phone', compileTemplate('{{ event.n }}')]], scope({ n: '+1 (555) 123-4567' }), new Set());
    expect(url).toBe('https://crm.example.com/search?phone=%2B1%20%28555%29%20123-4567');
  });

  it('appends to a URL that already has a query and keeps the fragment last', () => {
    const q = [['a b', compileTemplate('x&y=z')]] as const;
    expect(renderUrl(compileUrlTemplate('https://h.example/p?k=1#top'), q, scope({}), new Set())).toBe('https://h.example/p?k=1&a%20b=x%26y%3Dz#top');
  });
});

describe('URL templates', () => {
  const url = compileUrlTemplate('https://crm.example.com/contacts/{{ event.calling_number }}/details');

  it.each(HOSTILE_NAMES)('a value cannot add segments, a query or a fragment: %j', (value) => {
    const rendered = renderUrl(url, [], scope({ calling_number: value }), new Set());
    const parsed = new URL(rendered);
    expect(parsed.host).toBe('crm.example.com');
    expect(parsed.search).toBe('');
    expect(parsed.hash).toBe('');
    expect(parsed.pathname.split('/')).toHaveLength(4);
    expect(decodeURIComponent(parsed.pathname.split('/')[2] ?? '')).toBe(value);
  });

  it('encodes values inside helpers and blocks too', () => {
    const t = compileUrlTemplate('https://h.example/{{#if event.a}}{{ event.a }}{{/if}}/{{lookup event "b"}}');
    expect(t.render(scope({ a: 'x/y', b: '?z' }))).toBe('https://h.example/x%2Fy/%3Fz');
  });
});

describe('URL templates with allow_templated_host', () => {
  const render = (source: string, event: Record<string, unknown>) => {
    const url = renderUrl(compileUrlTemplate(source, { templatedOrigin: true }), [], scope(event), new Set());
    checkRenderedUrl(url);
    return url;
  };

  it.each([
    ['http://{{ event.host }}/x', { host: '127.0.0.1' }, 'http://127.0.0.1/x'],
    ['http://{{ event.hostport }}/x', { hostport: '127.0.0.1:9' }, 'http://127.0.0.1:9/x'],
    ['{{ event.base }}/x', { base: 'http://127.0.0.1:9' }, 'http://127.0.0.1:9/x'],
    ['{{ event.scheme }}://{{ event.host }}:{{ event.port }}?a=1', { scheme: 'https', host: 'h.example', port: 8443 }, 'https://h.example:8443?a=1'],
    ['http://{{ event.host }}:8080/x', { host: '[::1]' }, 'http://[::1]:8080/x'],
    ['http://[{{ event.ip6 }}]/x', { ip6: 'fe80::1' }, 'http://[fe80::1]/x'],
    ['https://{{#if event.eu}}eu{{else}}us{{/if}}.crm.example/x', { eu: true }, 'https://eu.crm.example/x'],
    ['https://user:pw@{{ event.host }}/x', { host: 'h.example' }, 'https://user:pw@h.example/x'],
    ['{{ event.base }}/c/{{ event.x }}', { base: 'http://h.example', x: 'a/b?c#d' }, 'http://h.example/c/a%2Fb%3Fc%23d'],
  ])('%s renders its scheme, host and port from call data', (source, event, expected) => {
    expect(render(source, event)).toBe(expected);
  });

  it.each([
    ['evil.example/admin'], ['evil.example?x=1'], ['evil.example#f'], ['user@evil.example'], ['evil.example\\admin'],
    ['http://http://evil.example'], ['http://evil.example/x'], ['evil example'], ['evil%2eexample'], ['127.0.0.1:9:9'], [''],
    ...HOSTILE_NAMES.map((name) => [name]),
  ])('a value cannot add user info, a second authority, a path or a query: %j', (host) => {
    expect(() => render('http://{{ event.host }}/x', { host })).toThrow(TemplateError);
    expect(() => render('{{ event.base }}/x', { base: `http://${host}` })).toThrow(TemplateError);
  });

  it('keeps the authority and the path apart for any value', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (host, path) => {
        let url: URL;
        try {
          url = new URL(render('http://{{ event.host }}/x/{{ event.path }}', { host, path }));
        } catch (error) {
          return error instanceof TemplateError;
        }
        return url.username === '' && url.pathname === `/x/${encodeRfc3986(path)}` && url.search === '' && url.hash === '';
      }),
    );
  });

  it('refuses a block holding the end of the host', () => {
    expect(() => compileUrlTemplate('http://{{#if event.a}}a.example/x{{/if}}', { templatedOrigin: true })).toThrow(/a block .* may not contain the first "\/"/);
    expect(() => compileUrlTemplate('http://{{#if event.a}}a{{/if}', { templatedOrigin: true })).toThrow(/Parse error/);
  });
});

describe('partials and decorators', () => {
  // Their text compiles on its own: it skipped URL encoding and every load-time check.
  it.each([
    ['{{#*inline "num"}}{{ event.calling_number }}{{/inline}}{{> num}}', /inline partials and decorators/],
    ['{{#> missing}}{{ event.calling_number }}{{/missing}}', /partials \(\{\{> name\}\}\) are not supported/],
    ['{{#if event.a}}{{> header}}{{/if}}', /partials/],
    ['{{> (lookup event "p") }}', /partials/],
    ['{{#*inline "r"}}x{{> r}}{{/inline}}', /inline partials/],
    ['{{* decorator}}', /decorators/],
  ])('%s is a load error in every kind of template', (source, message) => {
    expect(() => compileTemplate(source)).toThrow(message);
    expect(() => compileUrlTemplate(`https://h.example/contacts/${source}/details`)).toThrow(message);
    expect(() => compileUrlTemplate(`https://h.example/contacts/${source}/details`, { templatedOrigin: true })).toThrow(message);
    expect(() => compileUrlTemplate(`http://${source}/x`, { templatedOrigin: true })).toThrow(message);
    expect(() => compileBody({ a: [source] })).toThrow(message);
  });

  it('names the field in the policies file', () => {
    const yaml = (url: string) => `policies: [{ id: p, apps: [{ name: A, url: '${url}' }] }]`;
    expect(() => parseConfig(yaml('https://h.example/contacts/{{#> missing}}{{ event.calling_number }}{{/missing}}/details'))).toThrow(
      /policies\[0\]\.apps\[0\]\.url: template does not compile: partials/,
    );
  });
});

describe('a templated host keeps its user info as written', () => {
  it('refuses user info in a template', () => {
    for (const source of ['https://{{ event.user }}@h.example/x', 'https://{{ event.user }}:pw@{{ event.host }}/x', '{{ event.base }}@h.example/x']) {
      expect(() => compileUrlTemplate(source, { templatedOrigin: true })).toThrow(/user info .* must be written literally/);
    }
  });

  it('refuses a rendered origin whose user info is not the written one', () => {
    expect(() => checkRenderedOrigin('http://user:pw@127.0.0.1:1')).toThrow(TemplateError);
    expect(() => checkRenderedOrigin('http://a@user:pw@127.0.0.1:1', 'a@')).toThrow(TemplateError);
    expect(() => checkRenderedOrigin('http://b@127.0.0.1:1', 'a@')).toThrow(TemplateError);
    expect(() => checkRenderedOrigin('http://a@127.0.0.1:1', 'a@')).not.toThrow();
    expect(() => checkRenderedOrigin('http://127.0.0.1:1')).not.toThrow();
  });
});

describe('run-time render errors name their field', () => {
  const appOf = (fields: string) => parseConfig(`policies: [{ id: p, apps: [{ name: A, method: POST, ${fields} }] }]`).policies[0]!.apps[0]!;
  /** An event whose field throws when read: whatever may still go wrong at run time. */
  const failing = (field: string) => Object.defineProperty(scope({ calling_number: '1' }), 'event', { value: Object.defineProperty({ calling_number: '1' }, field, { get: () => { throw new Error('boom'); }, enumerable: true }) });
  const errorOf = (app: WebhookApp, field: string) => {
    try {
      renderRequest(app, 'c1', failing(field), new Set());
    } catch (error) {
      return [(error as Error).constructor.name, (error as Error).message];
    }
    return undefined;
  };

  it.each([
    ['url: "https://h.example/{{ event.x }}"', 'url'],
    ['url: "https://h.example/{{#if event.x}}y{{/if}}"', 'url'],
    ['url: "https://h.example/", query: { q: "{{ event.x }}" }', 'query.q'],
    ['url: "https://h.example/", headers: { X-Name: "{{ upper event.x }}" }', 'headers.X-Name'],
    ['url: "https://h.example/", body: { customer: { names: ["a", "{{ event.x }}!"] } }', 'body.customer.names[1]'],
    ['url: "https://h.example/", body_format: form, body: { Name: "{{ event.x }}" }', 'body.Name'],
    ['url: "https://h.example/", body_format: text, content_type: text/plain, body: "{{#with event}}{{ x }}{{/with}}"', 'body'],
  ])('%s', (fields, field) => {
    expect(errorOf(appOf(fields), 'x')).toEqual(['TemplateError', `${field}: template failed: boom`]);
  });
});

describe('max_request_bytes', () => {
  const appOf = (fields: string) => parseConfig(`policies: [{ id: p, apps: [{ name: A, method: POST, url: "https://h.example/", ${fields} }] }]`).policies[0]!.apps[0]!;
  const render = (app: WebhookApp, event: Record<string, unknown>) => renderRequest(app, 'c1', scope(event), new Set());

  it('stops a loop over call data as soon as it writes more than the limit', () => {
    let read = 0;
    const items = Array.from({ length: 100_000 }, (_, i) => ({ toString: () => `item-${(read++, i)}` }));
    const app = appOf('max_request_bytes: 1000, body_format: text, content_type: text/plain, body: "{{#each event.items}}<i>{{#each ../event.tags}}{{ this }}{{/each}}{{ this }}</i>{{/each}}"');
    expect(() => render(app, { items, tags: ['a', 'b'] })).toThrow(new RequestTooLargeError(1000));
    expect(read).toBeLessThan(1000); // not 100,000
    expect(render(app, { items: items.slice(0, 3), tags: ['a'] }).bodyText).toBe('<i>aitem-0</i><i>aitem-1</i><i>aitem-2</i>');
  });

  it('stops a cross product of two lists inside one outer iteration too', () => {
    let read = 0;
    const inner = Array.from({ length: 2000 }, (_, i) => ({ toString: () => `${(read++, i)}` }));
    const app = appOf('max_request_bytes: 1000, body_format: text, content_type: text/plain, body: "{{#each event.one}}{{#each ../event.rows}}{{#each ../../event.cols}}{{ this }}{{/each}}{{/each}}{{/each}}"');
    expect(() => render(app, { one: [1], rows: inner, cols: inner })).toThrow(new RequestTooLargeError(1000));
    expect(read).toBeLessThan(2000); // not 4,000,000
  });

  it('counts URL, headers and body together, in UTF-8 bytes', () => {
    const app = appOf('max_request_bytes: 1000, query: { q: "{{ event.q }}" }, headers: { X-Name: "{{ event.name }}" }, body: { text: "{{ event.text }}" }');
    const base = render(app, { q: '', name: '', text: '' });
    const size = (r: typeof base) => Buffer.byteLength(r.url) + Buffer.byteLength(r.bodyText!) + Object.entries(r.headers).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    const room = 1000 - size(base);
    const filling = 'x'.repeat(room % 2) + 'é'.repeat(Math.floor(room / 2)); // é is 2 bytes
    expect(size(render(app, { q: '', name: '', text: filling }))).toBe(1000);
    expect(() => render(app, { q: '', name: '', text: `${filling}x` })).toThrow(RequestTooLargeError);
    expect(() => render(app, { q: ' '.repeat(room / 3 + 1), name: '', text: '' })).toThrow(RequestTooLargeError); // a space is %20 in the URL
    expect(() => render(app, { q: '', name: 'x'.repeat(room), text: '' })).toThrow(RequestTooLargeError); // with the header's name
  });

  it('defaults to 1 MiB', () => {
    const app = appOf('body: { text: "{{ event.text }}" }');
    expect(app.maxRequestBytes).toBe(1024 * 1024);
    expect(() => render(app, { text: 'x'.repeat(1024 * 1024) })).toThrow(RequestTooLargeError);
  });
});

describe('text templates', () => {
  it('does not HTML-escape', () => {
    expect(compileTemplate('{{ event.calling_name }}').render(scope({ calling_name: `O'Brien & Sons <x>` }))).toBe(`O'Brien & Sons <x>`);
  });

  it('reads hyphenated slugs and [app-name] segments', () => {
    const data = { 'crm-lookup': { data: { customer_id: 'CUST-12345' } } };
    expect(compileTemplate('{{ app_data.crm-lookup.data.customer_id }}').render(scope({}, data))).toBe('CUST-12345');
    expect(compileTemplate('{{ app_data.[crm-lookup].data.customer_id }}').render(scope({}, data))).toBe('CUST-12345');
  });

  it('lists paths that resolve to nothing and renders them empty', () => {
    const unresolved = new Set<string>();
    const out = compileTemplate('{{ event.calling_number }}-{{ app_data.phone-discovery.data.phone.ip }}').render(scope({ calling_number: '1' }), unresolved);
    expect(out).toBe('1-');
    expect([...unresolved]).toEqual(['app_data.phone-discovery.data.phone.ip']);
  });

  it('cannot reach the process environment or prototypes', () => {
    expect(compileTemplate('{{ process.env.HOME }}{{ event.constructor.name }}{{ event.__proto__ }}').render(scope({}))).toBe('');
  });

  it('does not render templates found inside call data', () => {
    expect(compileTemplate('{{ event.calling_name }}').render(scope({ calling_name: '{{ event.secret }}', secret: 'x' }))).toBe('{{ event.secret }}');
  });

  it('reports a syntax error at compile time', () => {
    expect(() => compileTemplate('{{ event.calling_number ')).toThrow();
  });
});

describe('JSON bodies', () => {
  it.each(HOSTILE_NAMES)('call data cannot break the JSON: %j', (name) => {
    const body = compileBody({ text: 'Call from {{ event.calling_name }}', name: '{{ event.calling_name }}', nested: ['{{ event.calling_name }}!'] });
    const rendered = renderBody(body, scope({ calling_name: name }), new Set());
    const text = JSON.stringify(rendered);
    expect(JSON.parse(text)).toEqual({ text: `Call from ${name}`, name, nested: [`${name}!`] });
  });

  it('keeps the JSON type of whole-expression leaves', () => {
    const body = compileBody({ n: '{{ app_data.crm.data.count }}', vip: '{{app_data.crm.data.vip}}', obj: '{{ app_data.crm.data }}', missing: '{{ event.nope }}', text: 'n={{ app_data.crm.data.count }}', literal: 7 });
    const unresolved = new Set<string>();
    const data = { count: 3, vip: true, nothing: null };
    expect(renderBody(body, scope({}, { crm: { data } }), unresolved)).toEqual({ n: 3, vip: true, obj: data, missing: '', text: 'n=3', literal: 7 });
    expect([...unresolved]).toEqual(['event.nope']);
  });
});

describe('headers', () => {
  const headers = [['X-Caller', compileTemplate('{{ event.calling_name }}')], ['X-Empty', compileTemplate('{{ event.nope }}')]] as const;

  it('leaves out headers that render empty', () => {
    expect(renderHeaders(headers, scope({ calling_name: `O'Brien & Sons` }), new Set())).toEqual({ 'X-Caller': `O'Brien & Sons` });
  });

  it.each(['a\r\nX-Injected: 1', 'a\nb', 'a\rb', 'a\u0000b', 'a\u007fb', 'a\u0085X-Injected: 1', 'a\u009bb', 'a\u2028b', 'a\u2029b'])('fails on control characters and line separators: %j', (value) => {
    expect(() => renderHeaders(headers, scope({ calling_name: value }), new Set())).toThrow(TemplateError);
  });

  it('keeps a tab and the characters around the C1 block', () => {
    const value = 'a\tb ~ \u00a0 \u00e9 \u2027 \u202f';
    expect(renderHeaders(headers, scope({ calling_name: value }), new Set())).toEqual({ 'X-Caller': value });
  });

  it('keeps non-ASCII text as text, and sends it as UTF-8 bytes', () => {
    const out = renderHeaders(headers, scope({ calling_name: 'Zoë 李' }), new Set());
    expect(out['X-Caller']).toBe('Zoë 李');
    const wire = headersOnTheWire({ ...out, 'X-Plain': 'ascii' });
    expect(Buffer.from(wire['X-Caller'] ?? '', 'latin1').toString('utf8')).toBe('Zoë 李');
    expect(wire['X-Plain']).toBe('ascii');
    const ascii = { A: 'b' };
    expect(headersOnTheWire(ascii)).toBe(ascii); // nothing to convert: the same object, no copy
  });
});

describe('simple templates (text and paths) render without Handlebars', () => {
  // Ground truth: Handlebars itself, with the options callhook compiles with.
  const handlebars = (source: string, data: unknown) => Handlebars.create().compile(source, { noEscape: true, strict: false })(data);
  const value = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.jsonValue(), fc.array(fc.string(), { maxLength: 3 }));
  const shapes = [
    'Call from {{ event.a }} to {{event.b}}',
    '{{ event.a }}',
    '{{{ event.a }}}{{! a comment }}!',
    '{{ app_data.crm-lookup.data.a }} / {{ app_data.[crm-lookup].data.b }}',
    '  {{~ event.a ~}}  -  {{ event.a.length }} {{ event.a.[0] }} {{ event.missing.deep }}',
    '{{ event.__proto__ }}{{ event.constructor }}{{ event.a.constructor }}',
    // Blocks go through Handlebars itself, every value inserted through callhook's text helper.
    '{{#if event.a}}[{{ event.a }}]{{else}}{{{ event.b }}}{{/if}}',
    '{{#each event.b}}{{ this }},{{/each}}{{#with event}}{{ a }}{{/with}}',
  ];

  it('renders exactly what Handlebars renders, for any data', () => {
    fc.assert(
      fc.property(fc.constantFrom(...shapes), value, value, (source, a, b) => {
        const data = { event: { a, b }, app_data: { 'crm-lookup': { data: { a, b } } } };
        let expected: string;
        try {
          expected = handlebars(source, data);
        } catch {
          // Handlebars throws on an object whose own `toString` is not a function ({"toString": ""});
          // callhook renders it as String() would render any other object.
          const safe = (v: unknown) => (v !== null && typeof v === 'object' && typeof (v as { toString?: unknown }).toString !== 'function' ? {} : v);
          expected = handlebars(source, { event: { a: safe(a), b: safe(b) }, app_data: { 'crm-lookup': { data: { a: safe(a), b: safe(b) } } } });
        }
        expect(compileTemplate(source).render(data)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
    expect(compileTemplate('{{ event.a }}!').render({ event: { a: { toString: '' } } })).toBe('[object Object]!');
  });

  it('reports the same unresolved paths as the Handlebars path does', () => {
    const unresolved = new Set<string>();
    compileTemplate('{{ event.a }} {{ event.nope }} {{ app_data.x.y }}').render({ event: { a: 1 }, app_data: {} }, unresolved);
    expect([...unresolved]).toEqual(['event.nope', 'app_data.x.y']);
  });

  it('percent-encodes every value in a URL template', () => {
    fc.assert(
      fc.property(value, (a) => {
        const rendered = compileUrlTemplate('https://h.example/{{ event.a }}/x').render({ event: { a } });
        const inserted = a === undefined || a === null ? '' : encodeRfc3986(typeof a === 'object' ? JSON.stringify(a) : String(a));
        expect(rendered).toBe(`https://h.example/${inserted}/x`);
      }),
    );
  });
});
