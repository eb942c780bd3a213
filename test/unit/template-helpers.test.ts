import fc from 'fast-check';
import Handlebars from 'handlebars';
import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/policies/load';
import { compileBody, renderBody } from '../../src/templates/body';
import { compileTemplate, compileUrlTemplate } from '../../src/templates/engine';
import { renderUrl } from '../../src/templates/request';
import { HOSTILE_NAMES } from '../helpers/events';

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** What a reader sees as characters. */
const graphemes = (s: string) => [...GRAPHEMES.segment(s)].map((g) => g.segment);
const NAMES = ['e164', 'digits', 'date', 'duration', 'default', 'json', 'xml', 'lower', 'upper', 'truncate'];
const render = (source: string, event: unknown, unresolved?: Set<string>) => compileTemplate(source).render({ event, app_data: {} }, unresolved);
const one = (source: string, value: unknown) => render(source, { v: value });

/** Deeper than JSON.stringify's and String()'s recursion can go. */
function deeplyNested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

const MEGABYTE = 'x'.repeat(1 << 20);
/** Call data that has broken helpers elsewhere: each helper must render a string for all of it. */
const HOSTILE_VALUES: unknown[] = [
  ...HOSTILE_NAMES,
  MEGABYTE,
  '9'.repeat(1 << 20),
  '&<'.repeat(1 << 19),
  { toString: '' },
  [{ toString: '' }],
  { toString: '', valueOf: '' },
  JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": 1}}'),
  deeplyNested(200_000),
  '\uD800lone\uDFFF',
  '',
  ' ',
  '1e999',
  '-0',
  'NaN',
  'Infinity',
  '0x1F',
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  0,
  -1,
  true,
  null,
  undefined,
  [],
  {},
];

describe('helpers live only in callhook’s environment', () => {
  it('leaves the global Handlebars and fresh environments without them', () => {
    compileTemplate('{{ upper event.a }}');
    for (const name of NAMES) {
      expect(Handlebars.helpers[name]).toBeUndefined();
      expect(Handlebars.create().helpers[name]).toBeUndefined();
    }
    expect(() => Handlebars.compile('{{ upper a }}')({ a: 'x' })).toThrow(/Missing helper/);
  });
});

describe('hostile call data', () => {
  const calls = ['e164 event.v', 'e164 event.v "44"', 'digits event.v', 'date event.v', 'date event.v "YYYY-MM-DD HH:mm:ss.SSS" "Europe/London"', 'duration event.v', 'default event.v "x"', 'json event.v', 'xml event.v', 'lower event.v', 'upper event.v', 'truncate event.v 5 "…"', 'truncate "abcdefgh" event.v event.v'];

  it.each(calls)('{{ %s }} renders a string for every value, never throws', (call) => {
    const template = compileTemplate(`[{{ ${call} }}]`);
    const url = compileUrlTemplate(`https://h.example/{{ ${call} }}/x`);
    for (const v of HOSTILE_VALUES) {
      expect(typeof template.render({ event: { v } })).toBe('string');
      expect(new URL(url.render({ event: { v } })).host).toBe('h.example');
    }
  });

  it.each(calls)('{{ %s }} renders a string for any JSON value', (call) => {
    const template = compileTemplate(`{{ ${call} }}`);
    fc.assert(fc.property(fc.jsonValue(), (v) => expect(typeof template.render({ event: { v } })).toBe('string')), { numRuns: 300 });
  });

  it('keeps huge values cheap where the output is small', () => {
    expect(one('{{ truncate event.v 3 }}', MEGABYTE)).toBe('xxx');
    expect(one('{{ e164 event.v }}', '+' + '9'.repeat(1 << 20))).toBe('');
    expect(one('{{ date event.v }}', '1'.repeat(1 << 20))).toBe('');
    expect(one('{{ duration event.v }}', '1'.repeat(1 << 20))).toBe('');
    expect(one('{{ upper event.v }}', MEGABYTE)).toHaveLength(1 << 20);
  });
});

describe('e164', () => {
  it.each([
    ['+1 (555) 123-4567', undefined, '+15551234567'],
    ['0015551234567', undefined, '+15551234567'],
    ['00 44 20 7946 0000', undefined, '+442079460000'],
    ['5551234567', '"1"', '+15551234567'],
    ['1 555 123 4567', '1', '+15551234567'], // the NANP trunk prefix 1
    ['011447700900123', '"1"', '+447700900123'], // the NANP international prefix 011
    ['011 44 20 7946 0000', 1, '+442079460000'],
    ['011447700900123', undefined, ''], // 011 is international for country 1 only
    ['07700 900123', '"44"', '+447700900123'],
    ['07700 900123', '"+44"', '+447700900123'],
    ['+44 (0)20 7946 0000', undefined, '+442079460000'],
    ['+447700900123', '"1"', '+447700900123'], // already international: the country is not used
    ['sip:+15551234567@cucm.example.com;user=phone', undefined, '+15551234567'],
    ['tel:+1-555-123-4567;ext=100', undefined, '+15551234567'],
    ['5551234567', undefined, ''], // national, and no country to prefix
    ['1000', '"44"', ''], // an internal extension
    ['12345', '"1"', ''],
    ['anonymous', '"44"', ''],
    ['1-800-FLOWERS', '"1"', ''],
    ['*67 555 1234', '"1"', ''],
    ['+1 555 123 4567 #', undefined, ''],
    ['+0 555 123 4567', undefined, ''], // no country code starts with 0
    ['+1234567890123456', undefined, ''], // 16 digits: longer than E.164 allows
    ['+12345', undefined, ''],
    ['', '"44"', ''],
    [null, '"44"', ''],
    [undefined, '"44"', ''],
    [15551234567, '"1"', '+15551234567'],
  ])('%j with country %s → %j', (value, country, expected) => {
    expect(one(`{{ e164 event.v${country ? ` ${country}` : ''} }}`, value)).toBe(expected);
  });

  it('takes the country from call data, and renders "" when it is not one', () => {
    const t = compileTemplate('{{ e164 event.n event.cc }}');
    expect(t.render({ event: { n: '020 7946 0000', cc: 44 } })).toBe('+442079460000');
    expect(t.render({ event: { n: '020 7946 0000', cc: 'UK' } })).toBe('');
    expect(t.render({ event: { n: '020 7946 0000', cc: '0044' } })).toBe('');
  });
});

describe('digits', () => {
  it.each([
    ['+1 (555) 123-4567', '15551234567'],
    ['SEP001122334455', '001122334455'],
    ['١٢٣ 45', '45'], // only ASCII digits
    [42.5, '425'],
    [null, ''],
    [{ toString: '' }, ''],
  ])('%j → %j', (value, expected) => expect(one('{{ digits event.v }}', value)).toBe(expected));
});

describe('date', () => {
  it.each([
    // CUCM CDR times are epoch seconds, as numbers or the CDR's text
    [1464957140, 'iso', '2016-06-03T12:32:20.000Z'],
    ['1464957140', 'iso', '2016-06-03T12:32:20.000Z'],
    [1464957140.5, 'iso', '2016-06-03T12:32:20.500Z'],
    [1464957140123, 'iso', '2016-06-03T12:32:20.123Z'], // milliseconds
    ['2026-11-27T10:00:00.000Z', 'iso', '2026-11-27T10:00:00.000Z'],
    ['2026-11-27T10:00:00', 'iso', '2026-11-27T10:00:00.000Z'], // no offset: UTC, not the server's zone
    ['2026-11-27 10:00', 'iso', '2026-11-27T10:00:00.000Z'],
    ['2026-11-27', 'iso', '2026-11-27T00:00:00.000Z'],
    ['2026-11-27T10:00:00+01:00', 'iso', '2026-11-27T09:00:00.000Z'],
    ['2026-11-27T10:00:00-0530', 'iso', '2026-11-27T15:30:00.000Z'],
    ['2026-11-27T10:00:00.123456789z', 'iso', '2026-11-27T10:00:00.123Z'],
    ['0001-01-01T00:00:00Z', 'iso', '0001-01-01T00:00:00.000Z'],
    ['2024-02-29T23:59:59Z', 'YYYY-MM-DD HH:mm:ss', '2024-02-29 23:59:59'],
    [1464957140, 'DD/MM/YYYY [at] HH:mm', '03/06/2016 at 12:32'],
    [1464957140, '[YYYY] YYYY', 'YYYY 2016'],
    [1464957140, 'unix', '1464957140'],
    ['2026-11-27T10:00:00.999Z', 'unix', '1795773600'],
    [1464957140, '[no tokens here]', 'no tokens here'],
    [1464957140, 'HH:mm, DD.MM.', '12:32, 03.06.'],
  ])('%j as %j → %j', (value, format, expected) => {
    expect(one(`{{ date event.v "${format}" }}`, value)).toBe(expected);
  });

  it('defaults to ISO 8601 in UTC, and reads a JavaScript Date', () => {
    expect(one('{{ date event.v }}', '1464957140')).toBe('2016-06-03T12:32:20.000Z');
    expect(one('{{ date event.v }}', new Date(Date.UTC(2026, 10, 27)))).toBe('2026-11-27T00:00:00.000Z');
  });

  it.each([
    ['2026-11-27T10:00:00Z', 'Europe/London', 'iso', '2026-11-27T10:00:00.000Z'],
    ['2026-07-01T10:00:00Z', 'Europe/London', 'iso', '2026-07-01T11:00:00.000+01:00'],
    ['2026-11-27T10:00:00.123Z', 'America/New_York', 'iso', '2026-11-27T05:00:00.123-05:00'],
    ['2026-11-27T20:00:00Z', 'Asia/Kolkata', 'YYYY-MM-DD HH:mm', '2026-11-28 01:30'],
    ['2026-03-29T00:59:59Z', 'Europe/Berlin', 'HH:mm:ss', '01:59:59'],
    ['2026-03-29T01:00:00Z', 'Europe/Berlin', 'HH:mm:ss', '03:00:00'], // the DST jump
    ['2026-11-27T00:00:00Z', 'Pacific/Kiritimati', 'iso', '2026-11-27T14:00:00.000+14:00'],
    [1464957140, 'Europe/London', 'unix', '1464957140'],
  ])('%j in %s as %j → %j', (value, zone, format, expected) => {
    expect(one(`{{ date event.v "${format}" "${zone}" }}`, value)).toBe(expected);
  });

  it('renders "" when a zone moves the date out of the years 0000-9999', () => {
    expect(one('{{ date event.v "iso" "Asia/Tokyo" }}', '9999-12-31T23:59:59Z')).toBe('');
    expect(one('{{ date event.v "iso" "America/New_York" }}', '0000-01-01T00:30:00Z')).toBe('');
    expect(one('{{ date event.v }}', '9999-12-31T23:59:59Z')).toBe('9999-12-31T23:59:59.000Z');
  });

  it('renders "" for a zone from call data that is not one, UTC when it is empty', () => {
    const t = compileTemplate('{{ date event.t "HH:mm" event.tz }}');
    expect(t.render({ event: { t: '2026-11-27T10:00:00Z', tz: 'Mars/Olympus_Mons' } })).toBe('');
    expect(t.render({ event: { t: '2026-11-27T10:00:00Z', tz: 'x'.repeat(1 << 20) } })).toBe('');
    expect(t.render({ event: { t: '2026-11-27T10:00:00Z', tz: 'Asia/Tokyo' } })).toBe('19:00');
    expect(t.render({ event: { t: '2026-11-27T10:00:00Z' } })).toBe('10:00');
  });

  it.each([
    0, // CUCM: the call was never connected
    '0',
    -1,
    '',
    '  ',
    'yesterday',
    'June 3, 2016',
    '2026-02-30',
    '2026-13-01',
    '2026-11-27T24:00:00Z',
    '2026-11-27T10:60:00Z',
    '2026-11-27T10:00:00+24:00',
    '+275760-09-13T00:00:00.000Z',
    '1e999',
    1e300,
    Infinity,
    NaN,
    new Date(NaN),
    true,
    [1464957140],
    { toString: '' },
    null,
    undefined,
  ])('renders "" for %j (never "Invalid Date", never throws)', (value) => {
    expect(one('{{ date event.v }}', value)).toBe('');
    expect(one('{{ date event.v "YYYY" "Europe/London" }}', value)).toBe('');
  });
});

describe('duration', () => {
  it.each([
    [3725, '1:02:05'],
    [59, '0:00:59'],
    [0, '0:00:00'],
    ['3600', '1:00:00'],
    [' 61 ', '0:01:01'],
    [59.9, '0:00:59'], // whole seconds
    [360000, '100:00:00'],
    [-1, ''],
    ['-5', ''],
    [NaN, ''],
    [Infinity, ''],
    [1e300, ''],
    ['1:00', ''],
    ['abc', ''],
    ['', ''],
    [null, ''],
    [true, ''],
    [{ toString: '' }, ''],
  ])('%j → %j', (value, expected) => expect(one('{{ duration event.v }}', value)).toBe(expected));
});

describe('default', () => {
  it.each([
    [undefined, 'Unknown'],
    [null, 'Unknown'],
    ['', 'Unknown'],
    [' ', ' '],
    [0, '0'],
    [false, 'false'],
    ['Jane', 'Jane'],
  ])('%j → %j', (value, expected) => expect(one('{{ default event.v "Unknown" }}', value)).toBe(expected));

  it('takes the first value that is set, and keeps its type for another helper', () => {
    expect(render('{{ default event.a event.b event.c "none" }}', { b: '', c: 'third' })).toBe('third');
    expect(render('{{ json (default event.a event.b) }}', { b: { vip: true } })).toBe('{"vip":true}');
    expect(render('{{ default event.a event.b }}', {})).toBe('');
  });

  it('renders an object String() cannot convert as its text', () => {
    expect(one('{{ default event.v "x" }}', { toString: '' })).toBe('[object Object]');
    expect(one('{{ default event.v "x" }}', [{ toString: '' }])).toBe('[object Array]');
  });
});

describe('json', () => {
  it.each([
    [{ a: [1, '2'], b: null }, '{"a":[1,"2"],"b":null}'],
    ['say "hi"\n', '"say \\"hi\\"\\n"'],
    [42, '42'],
    [null, 'null'],
    [undefined, 'null'], // missing: a JSON text body stays JSON
    ['\uD800', '"\\ud800"'],
    [JSON.parse('{"__proto__": {"x": 1}}'), '{"__proto__":{"x":1}}'],
    [{ toString: '', toJSON: '' }, '{"toString":"","toJSON":""}'],
  ])('%j → %j', (value, expected) => expect(one('{{ json event.v }}', value)).toBe(expected));

  it('renders null for nesting deeper than the stack', () => {
    expect(one('{{ json event.v }}', deeplyNested(200_000))).toBe('null');
  });

  it('keeps a JSON text body JSON when a field is missing (CDR events have no calling_name)', () => {
    const rendered = render('{"name": {{ json event.calling_name }}, "dev": {{ json event.calling_devicename }} }', { calling_devicename: 'SEP00' });
    expect(JSON.parse(rendered)).toEqual({ name: null, dev: 'SEP00' });
  });
});

describe('xml', () => {
  const unescape = (s: string) => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);

  it('escapes the five markup characters', () => {
    expect(one('{{ xml event.v }}', `<a href="x">O'Brien & Sons</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;O&apos;Brien &amp; Sons&lt;/a&gt;');
    expect(one('{{ xml event.v }}', '&amp;')).toBe('&amp;amp;');
  });

  it('drops what XML 1.0 cannot carry and keeps what it can', () => {
    expect(one('{{ xml event.v }}', 'a\u0000b\u0008c\u000bd\u001fe\uFFFEf\uFFFFg\uD800h\uDC00i')).toBe('abcdefghi');
    expect(one('{{ xml event.v }}', 'tab\tLF\nCR\r 🙂 Zoë \u007f\u0085')).toBe('tab\tLF\nCR\r 🙂 Zoë \u007f\u0085');
  });

  it('round-trips any text but the characters it drops', () => {
    const dropped = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom(...HOSTILE_NAMES)), (s) => {
        const out = one('{{ xml event.v }}', s);
        expect(out).not.toMatch(/[<>"']|&(?!(amp|lt|gt|quot|apos);)/);
        expect(unescape(out)).toBe(s.replace(dropped, ''));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('lower and upper', () => {
  it.each([
    ['Zoë O’Brien', 'zoë o’brien', 'ZOË O’BRIEN'],
    ['straße', 'straße', 'STRASSE'],
    [42, '42', '42'],
    [true, 'true', 'TRUE'],
    [['a', 'B'], 'a,b', 'A,B'], // as the engine inserts an array
    [null, '', ''],
    [undefined, '', ''],
    [{ toString: '' }, '[object object]', '[OBJECT OBJECT]'],
  ])('%j → %j / %j', (value, lower, upper) => {
    expect(one('{{ lower event.v }}', value)).toBe(lower);
    expect(one('{{ upper event.v }}', value)).toBe(upper);
  });
});

describe('truncate', () => {
  it.each([
    ['Hello, world', '5', '', 'Hello'],
    ['Hello, world', '5', '"…"', 'Hell…'],
    ['Hello, world', '8', '"..."', 'Hello...'],
    ['Hello', '5', '"…"', 'Hello'], // fits: no suffix
    ['Hello!', '2', '"..."', 'He'], // the suffix does not fit: left out
    ['Hello', '0', '"…"', ''],
    ['🙂🙂🙂🙂', '2', '', '🙂🙂'], // characters, not UTF-16 units
    ['a🙂b', '2', '', 'a🙂'],
    ['🙂🙂🙂🙂', '3', '"🙂…"', '🙂🙂…'],
    ['\uD800\uD800x', '2', '', '\uD800\uD800'], // lone surrogates count as one each
    // what a reader sees as one character, of several code points, is never cut
    ['🇬🇧🇺🇸', '1', '', '🇬🇧'],
    ['👨‍👩‍👧 family', '1', '', '👨‍👩‍👧'],
    ['👍🏽 ok', '1', '', '👍🏽'],
    ['e\u0301e\u0301e\u0301e\u0301', '3', '', 'e\u0301e\u0301e\u0301'],
    ['🇬🇧🇺🇸🇫🇷🇩🇪', '3', '"🇪🇺"', '🇬🇧🇺🇸🇪🇺'], // the suffix counted the same way
    ['Zoe\u0308 Smith', '4', '"e\u0301"', 'Zoe\u0308e\u0301'],
    [12345, '"3"', '', '123'],
    [null, '3', '', ''],
    [{ toString: '' }, '3', '', '[ob'],
  ])('%j to %s with suffix %s → %j', (value, n, suffix, expected) => {
    expect(one(`{{ truncate event.v ${n}${suffix ? ` ${suffix}` : ''} }}`, value)).toBe(expected);
  });

  it('never cuts a character (a grapheme cluster), and never exceeds the length', () => {
    const unit = fc.constantFrom('a', 'é', 'e\u0301', '\u0308', '🙂', '👍🏽', '🇬🇧', '🇬', '\u200d', '👨‍👩‍👧', '\uD800', '\uDC00', ' ');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit })), fc.nat(20), fc.constantFrom('', '…', '...', '🙂', '🇪🇺'), (s, n, suffix) => {
        const out = compileTemplate('{{ truncate event.v event.n event.s }}').render({ event: { v: s, n, s: suffix } });
        expect(graphemes(out).length).toBeLessThanOrEqual(n);
        // Whole characters of the text, then the suffix when it leaves room for some. (Telling the
        // suffix apart in the output cannot work: "a🙂‍a" cut to 2 with "🙂" is "a🙂", also its start.)
        const characters = graphemes(s);
        const room = n - graphemes(suffix).length;
        expect(out).toBe(characters.length <= n ? s : room > 0 ? characters.slice(0, room).join('') + suffix : characters.slice(0, n).join(''));
      }),
      { numRuns: 1000 },
    );
  });

  it('renders "" when a length from call data is not a whole number', () => {
    for (const n of [-1, 1.5, 'ten', NaN, null, undefined, {}]) expect(render('{{ truncate "abc" event.n }}', { n })).toBe('');
  });
});

describe('in URL templates, each helper’s output is percent-encoded', () => {
  it('encodes what the helpers render', () => {
    const url = compileUrlTemplate('https://crm.example.com/contacts/{{ e164 event.n "1" }}?at={{ date event.t "YYYY-MM-DD HH:mm" }}&d={{ duration event.d }}');
    expect(url.render({ event: { n: '(555) 123-4567', t: 1464957140, d: 65 } })).toBe('https://crm.example.com/contacts/%2B15551234567?at=2016-06-03%2012%3A32&d=0%3A01%3A05');
    const query = [['who', compileTemplate('{{ upper (default event.name "unknown") }}')]] as const;
    expect(renderUrl(compileUrlTemplate('https://h.example/x'), query, { event: {} }, new Set())).toBe('https://h.example/x?who=UNKNOWN');
  });

  it.each(HOSTILE_NAMES)('a value through a helper still cannot add segments, a query or a fragment: %j', (name) => {
    const url = compileUrlTemplate('https://crm.example.com/c/{{ lower event.v }}/{{ xml event.v }}/{{ json event.v }}/{{ truncate event.v 8 }}/{{ default event.nope event.v }}/end');
    const parsed = new URL(url.render({ event: { v: name } }));
    expect([parsed.host, parsed.search, parsed.hash]).toEqual(['crm.example.com', '', '']);
    const segments = parsed.pathname.split('/').slice(2).map(decodeURIComponent);
    expect(segments).toEqual([name.toLowerCase(), one('{{ xml event.v }}', name), JSON.stringify(name), graphemes(name).slice(0, 8).join(''), name, 'end']);
  });
});

describe('in JSON bodies', () => {
  const body = compileBody({
    phone: '{{ e164 event.calling_number "1" }}',
    at: '{{ date event.cdr.dateTimeOrigination "YYYY-MM-DD HH:mm:ss" "America/Chicago" }}',
    talk: 'Talked {{ duration event.duration }}',
    name: '{{ default event.calling_name "Unknown caller" }}',
    raw: '{{ json event.app_data }}',
    soap: '<name>{{ xml event.calling_name }}</name>',
    short: ['{{ truncate event.calling_name 10 "…" }}', '{{ upper event.calling_devicename }}'],
  });

  it('renders each helper into its string leaf', () => {
    const event = { calling_number: '5551234567', cdr: { dateTimeOrigination: '1464957140' }, duration: 125, calling_name: '', app_data: { crm: { id: 7 } }, calling_devicename: 'sep001122' };
    expect(renderBody(body, { event }, new Set())).toEqual({
      phone: '+15551234567',
      at: '2016-06-03 07:32:20',
      talk: 'Talked 0:02:05',
      name: 'Unknown caller',
      raw: '{"crm":{"id":7}}',
      soap: '<name></name>',
      short: ['', 'SEP001122'],
    });
  });

  it.each(HOSTILE_VALUES.filter((v) => typeof v === 'string' && v.length < 1000))('call data through helpers cannot break the JSON: %j', (name) => {
    const rendered = renderBody(body, { event: { calling_name: name, calling_number: name, duration: name, app_data: { name }, calling_devicename: name, cdr: { dateTimeOrigination: name } } }, new Set());
    expect(JSON.parse(JSON.stringify(rendered))).toEqual(rendered);
    expect((rendered as { raw: string }).raw).toBe(JSON.stringify({ name }));
  });
});

describe('templates written before the helpers existed', () => {
  const plain = (source: string, data: unknown) => Handlebars.create().compile(source, { noEscape: true })(data);

  it.each([
    ['{{#with event}}{{ duration }} {{ date }}{{/with}}', { event: { duration: 42, date: 'today' } }],
    ['{{#each event.calls}}{{ duration }};{{/each}}', { event: { calls: [{ duration: 1 }, { duration: 2 }, {}] } }],
    ['{{#with event}}{{#duration}}long{{else}}none{{/duration}}{{/with}}', { event: { duration: 5 } }],
    ['{{#with event}}{{#duration}}long{{else}}none{{/duration}}{{/with}}', { event: { duration: 0 } }],
    ['{{#with event}}{{ this.json }}|{{ ./upper }}{{/with}}', { event: { json: 'j', upper: 'u' } }],
    ['{{ duration }}{{ json }}', { duration: 3 }],
  ])('%s still reads the field, as plain Handlebars does', (source, data) => {
    expect(compileTemplate(source).render(data as Record<string, unknown>)).toBe(plain(source, data));
  });
});

describe('mistakes are load errors', () => {
  it.each([
    ['{{ truncate event.a }}', 'truncate takes 2 to 3 arguments ({{ truncate value length [suffix] }}), got 1'],
    ['{{ upper event.a event.b }}', 'upper takes 1 argument ({{ upper value }}), got 2'],
    ['{{ default event.a }}', 'default takes 2 or more arguments'],
    ['{{ date event.a "iso" "UTC" "x" }}', 'date takes 1 to 3 arguments'],
    ['{{ json event.a pretty=true }}', 'json takes no name=value options'],
    ['{{#upper event.a}}x{{/upper}}', 'upper is a helper, not a block'],
    ['{{ e164 event.a "4x" }}', 'e164: "4x" is not a country calling code'],
    ['{{ e164 event.a 0 }}', 'e164: 0 is not a country calling code'],
    ['{{ truncate event.a -1 }}', 'truncate: -1 is not a whole number'],
    ['{{ truncate event.a "ten" }}', 'truncate: "ten" is not a whole number'],
    ['{{ date event.a "iso" "Europe/Londn" }}', 'date: "Europe/Londn" is not an IANA time zone'],
    // letters a format does not read would be written out as they are (yyyy-06-dd)
    ['{{ date event.a "yyyy-MM-dd HH:mm" }}', 'date: "yyyy-MM-dd HH:mm" is not a date format: iso, unix, or YYYY MM DD HH mm ss SSS with any other letters in [brackets]'],
    ['{{ date event.a "YYYY-MM-DDTHH:mm" }}', 'date: "YYYY-MM-DDTHH:mm" is not a date format'],
    ['{{ date event.a "ISO" }}', 'date: "ISO" is not a date format'],
    ['{{#if event.a}}{{ date event.a "[at] HH:mm [x" }}{{/if}}', 'date: "[at] HH:mm [x" is not a date format'],
    // inside blocks and sub-expressions, which the load-time dry run does not render
    ['{{#if event.a}}{{ truncate event.a }}{{/if}}', 'truncate takes 2 to 3 arguments'],
    ['{{#each event.a}}{{else}}{{ lower (upper) this }}{{/each}}', 'lower takes 1 argument'],
    ['{{ lower (truncate event.a 1.5) }}', 'truncate: 1.5 is not a whole number'],
    // a helper that does not exist would fail every call that reaches it
    ['{{#if event.calling_name}}{{ uper event.calling_name }}{{/if}}', 'uper is not a helper (callhook\'s digits, e164'],
    ['{{#each event.a}}{{ upper (lowr this) }}{{/each}}', 'lowr is not a helper'],
    ['{{ upper (event.a) }}', 'a field is written without parentheses: event.a'],
    ['{{ event.fn event.a }}', 'event.fn is not a helper'],
    ['{{#if event.a}}{{ helperMissing event.a }}{{/if}}', 'helperMissing is not a helper'],
    ['{{#unknown event.a}}x{{/unknown}}', 'unknown is not a helper'],
    ['{{ "uper" event.a }}', 'uper is not a helper'],
    ['{{ "e164" event.a "UK" }}', 'e164: "UK" is not a country calling code'],
    // log writes call data to the console, outside callhook's logs and their redaction
    ['{{#if event.a}}{{ log event.ssn }}{{/if}}', 'log is not available'],
    ['{{ log "x" level="error" }}', 'log is not available'],
    // Handlebars' own helpers, used as they fail
    ['{{#if event.a}}{{#if}}x{{/if}}{{/if}}', 'if must be written {{#if value}}…{{/if}}'],
    ['{{#if event.a}}{{ if event.b }}{{/if}}', 'if must be written {{#if value}}…{{/if}}'],
    ['{{#each event.a event.b}}x{{/each}}', 'each must be written {{#each list}}…{{/each}}'],
    ['{{#if event.a}}{{ lookup event }}{{/if}}', 'lookup must be written {{ lookup object key }}'],
  ])('%s', (source, message) => {
    expect(() => compileTemplate(source)).toThrow(message);
    expect(() => compileUrlTemplate(`https://h.example/${source}`)).toThrow(message);
    expect(() => compileBody({ text: source })).toThrow(message);
  });

  it('names the policies field, as every template error does', () => {
    const yaml = `
policies:
  - id: p
    apps:
      - name: CRM
        url: "https://crm.example.com/{{ e164 event.calling_number 'UK' }}"
        headers: { X-Name: "{{ truncate event.calling_name }}" }`;
    const problems = (() => {
      try {
        parseConfig(yaml);
      } catch (error) {
        if (error instanceof ConfigError) return error.problems;
      }
      return [];
    })();
    expect(problems).toEqual([
      'policies[0].apps[0].url: template does not compile: e164: "UK" is not a country calling code such as "44"',
      'policies[0].apps[0].headers.X-Name: template does not compile: truncate takes 2 to 3 arguments ({{ truncate value length [suffix] }}), got 1',
    ]);
  });

  it('accepts Handlebars\' own helpers as they work, and names without arguments as fields', () => {
    const source = '{{#if event.a includeZero=true}}{{#each event.list}}{{ lookup ../event.map this }}{{/each}}{{else if event.b}}{{#with event}}{{ b }}{{/with}}{{/if}}{{#unless event.c}}-{{/unless}}{{ log }}{{#uper}}x{{/uper}}';
    expect(compileTemplate(source).render({ event: { a: 0, list: ['k'], map: { k: 'v' } }, log: 'L', uper: true })).toBe('v-Lx');
  });

  it('accepts literals that are valid, and paths whose value is only known per call', () => {
    for (const source of ['{{ e164 event.a 44 }}', '{{ e164 event.a "+1" }}', '{{ truncate event.a "10" }}', '{{ truncate event.a event.n }}', '{{ date event.a "iso" "UTC" }}', '{{ date event.a "iso" event.tz }}', '{{ date event.a "iso" "" }}', '{{ date event.a "unix" }}', '{{ date event.a "" }}', '{{ date event.a "YYYY-MM-DD[T]HH:mm:ss.SSS[Z]" }}', '{{ date event.a event.format }}']) {
      expect(() => compileTemplate(source)).not.toThrow();
    }
  });
});

describe('unresolved paths', () => {
  it('lists the paths given to helpers outside blocks', () => {
    const unresolved = new Set<string>();
    const out = render('{{ e164 event.nope "1" }}|{{ upper (default event.a app_data.x.y) }}|{{ event.b }}|{{#if 1}}{{ lower event.inner }}{{/if}}', { a: 'set' }, unresolved);
    expect(out).toBe('|SET||');
    expect([...unresolved].sort()).toEqual(['app_data.x.y', 'event.b', 'event.nope']);
  });
});
