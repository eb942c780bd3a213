import fc from 'fast-check';
import YAML from 'yaml';

/** A valid event; generators below break it in one or more ways. */
export const validEvent = (i: number) => ({
  call_id: `ok-${i}`,
  calling_number: '+15551234567',
  called_number: '1000',
  calling_name: 'Jane Caller',
  timestamp: '2026-11-27T10:00:00.000Z',
});

const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }));
const CALL_ID = /^[A-Za-z0-9][A-Za-z0-9._@~-]{0,199}$/;
const badCallId = fc.oneof(
  notAString,
  fc.constant(''),
  fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !CALL_ID.test(s)),
  fc.constantFrom('../etc/passwd', 'a/b', 'a:b', 'a b', '-leading', '.dot', 'x\r\ny', 'ünï', 'x'.repeat(201), '%2e%2e'),
);
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const badTimestamp = fc.oneof(notAString.filter((v) => v !== null || true), fc.string({ maxLength: 30 }).filter((s) => !ISO.test(s) || Number.isNaN(Date.parse(s))), fc.constantFrom('2026-13-45T99:99:99Z', 'yesterday', '0'));

/** One way of making an event invalid: a function of the event. */
const mutation: fc.Arbitrary<[string, (e: Record<string, unknown>) => void]> = fc.oneof(
  fc.constantFrom('calling_number', 'called_number').map((f) => [`drop ${f}`, (e: Record<string, unknown>) => void delete e[f]] as [string, (e: Record<string, unknown>) => void]),
  fc.tuple(fc.constantFrom('calling_number', 'called_number'), fc.oneof(notAString, fc.constant(''))).map(([f, v]) => [`${f}=${JSON.stringify(v)}`, (e: Record<string, unknown>) => void (e[f] = v)] as [string, (e: Record<string, unknown>) => void]),
  badCallId.map((v) => [`call_id=${JSON.stringify(v)?.slice(0, 40)}`, (e: Record<string, unknown>) => void (e.call_id = v)] as [string, (e: Record<string, unknown>) => void]),
  badTimestamp.map((v) => [`timestamp=${JSON.stringify(v)}`, (e: Record<string, unknown>) => void (e.timestamp = v)] as [string, (e: Record<string, unknown>) => void]),
  fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(null), fc.boolean()).map((v) => [`app_data=${JSON.stringify(v)}`, (e: Record<string, unknown>) => void (e.app_data = v)] as [string, (e: Record<string, unknown>) => void]),
  fc.oneof(fc.constant(''), fc.integer(), fc.constant(null), fc.boolean()).map((v) => [`policy=${JSON.stringify(v)}`, (e: Record<string, unknown>) => void (e.policy = v)] as [string, (e: Record<string, unknown>) => void]),
  fc.tuple(fc.constantFrom('calling_name', 'calling_devicename', 'trigger_point_type'), notAString.filter((v) => v !== null)).map(([f, v]) => [`${f}=${JSON.stringify(v)}`, (e: Record<string, unknown>) => void (e[f] = v)] as [string, (e: Record<string, unknown>) => void]),
);

/** An event with 1-3 things wrong with it, or a root that is not an object at all. */
export const badEvent: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(fc.nat(1_000_000), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })).map(([i, ms, extra]) => {
    const event: Record<string, unknown> = { ...extra, ...validEvent(i) };
    for (const [, apply] of ms) apply(event);
    return event;
  }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.boolean(), fc.constant('')) },
);

/** A batch of valid events with at least one bad one somewhere in it (all or nothing). */
export const badBatch: fc.Arbitrary<{ items: unknown[]; bad: number[] }> = fc
  .tuple(fc.integer({ min: 0, max: 15 }), fc.array(fc.tuple(fc.nat(), badEvent), { minLength: 1, maxLength: 4 }), fc.nat(1_000_000))
  .map(([good, bads, base]) => {
    const items: unknown[] = Array.from({ length: good }, (_, i) => ({ ...validEvent(base + i), call_id: `batch-${base}-${i}` }));
    for (const [at, event] of bads) items.splice(at % (items.length + 1), 0, event);
    const bad = items.map((item, i) => (typeof item === 'object' && item !== null && String(typeof (item as { call_id?: unknown }).call_id === 'string' ? (item as { call_id: string }).call_id : '').startsWith(`batch-${base}-`) ? -1 : i)).filter((i) => i >= 0);
    return { items, bad };
  });

/** Request bodies that are not JSON at all. */
export const notJson: fc.Arbitrary<string> = fc.oneof(
  fc.string({ minLength: 1, maxLength: 200 }),
  fc.constantFrom('{', '[{"calling_number":"1"', '{"a":1}}', "{'single':'quotes'}", 'NaN', '{"calling_number": 1,}', '\u0000', '\ufeff{}'),
).filter((text) => {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
});

/** A valid policies tree with most fields in use. */
export function validPolicies(receiverUrl = 'http://127.0.0.1:9') {
  return {
    policies: [
      {
        id: 'sales',
        description: 'Sales line',
        match: { called_number: '^1[0-9]{3}$' },
        apps: [
          { name: 'CRM Lookup', url: `${receiverUrl}/contacts/{{ event.calling_number }}`, method: 'GET', timeout: '5s', retry_count: 2, retry_delay: '250ms', headers: { 'X-Caller': '{{ event.calling_name }}' }, query: { phone: '{{ event.calling_number }}' } },
          { name: 'Slack', slug: 'slack', order: 80, method: 'POST', url: `${receiverUrl}/hook`, auth: { type: 'bearer', token: 't0ken' }, when: '{{ app_data.crm-lookup.data.vip }}', body: { text: 'VIP {{ app_data.crm-lookup.message }}' }, on_failure: 'stop' },
        ],
      },
      {
        id: 'default',
        apps: [{ name: 'Log', url: `${receiverUrl}/log`, method: 'POST', body: '{"a": "{{ event.call_id }}"}', auth: { type: 'basic', username: 'u', password: 'p' }, retry_on_status: [429] }],
      },
    ],
  };
}

type Path = (string | number)[];

function paths(node: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(node)) node.forEach((item, i) => out.push(...paths(item, [...prefix, i])));
  else if (node !== null && typeof node === 'object') for (const [k, v] of Object.entries(node)) out.push(...paths(v, [...prefix, k]));
  return out;
}

const weirdValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('${NOT_SET_ANYWHERE}', '{{#if}}', '{{ broken', '{{> partial }}', 'not a url', 'ftp://x/', '-1', 'soon', '1e400', 'http://{{ event.host }}/x', '{{ event.a }}{{', '', ' ', 'DELETE', 'TRACE', 'oauth2', 'Bad Header', 'stop', 'real_time', '9999999999999999999'),
  fc.integer(),
  fc.double(),
);

/** A policies tree mutated at one to three random places (a delete, a replacement or a renamed key). */
export const mutatedPolicies: fc.Arbitrary<{ tree: unknown; edits: string[] }> = fc
  .array(fc.tuple(fc.nat(), fc.constantFrom('delete', 'replace', 'rename'), weirdValue, fc.string({ minLength: 1, maxLength: 10 })), { minLength: 1, maxLength: 3 })
  .map((edits) => {
    const tree = validPolicies() as unknown;
    const done: string[] = [];
    for (const [pick, kind, value, name] of edits) {
      const all = paths(tree).filter((p) => p.length > 0);
      const path = all[pick % all.length] ?? [];
      const parent = path.slice(0, -1).reduce<unknown>((node, k) => (node as Record<string | number, unknown>)[k], tree) as Record<string | number, unknown>;
      const last = path[path.length - 1] as string | number;
      if (kind === 'delete') {
        if (Array.isArray(parent)) parent.splice(last as number, 1);
        else delete parent[last];
      } else if (kind === 'replace' || Array.isArray(parent)) {
        parent[last] = value;
      } else {
        parent[name] = parent[last];
        delete parent[last];
      }
      done.push(`${kind} ${path.join('.')}`);
    }
    return { tree, edits: done };
  });

/** A valid policies file as YAML text with characters inserted, deleted or the text cut short. */
export const garbledYaml: fc.Arbitrary<string> = fc
  .tuple(fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'cut'), fc.constantFrom(':', '-', '{', '}', '[', ']', '"', "'", '\t', '\n', '  ', '#', '&a', '*a', '!!binary', '%', '@', '`', '|', '>', '?', ',', '{{', '\u0000', '\ufeff')), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([edits, json]) => {
    let text = json ? JSON.stringify(validPolicies(), null, 2) : YAML.stringify(validPolicies());
    for (const [at, kind, chars] of edits) {
      const i = at % (text.length + 1);
      if (kind === 'insert') text = text.slice(0, i) + chars + text.slice(i);
      else if (kind === 'delete') text = text.slice(0, i) + text.slice(i + 1 + (at % 7));
      else text = text.slice(0, Math.max(1, i));
    }
    return text;
  });

/** Call data that has broken URLs, headers and JSON bodies in other systems. */
export function hostileNames(): string[] {
  const mixed = 'Zoë 李 🙂 "q" \\ ../ & ?x=1#f %2F ';
  let big = '';
  while (Buffer.byteLength(JSON.stringify(big)) < 200 * 1024) big += mixed;
  return [
    `O'Brien & Sons`, 'quote " and \\ backslash', '..', '.', '../../admin?x=1#frag', '..%2F..%2Fadmin', '%00%0d%0a', 'line\r\nX-Injected: yes',
    'lf only\nX-Injected: yes', 'nul\u0000byte', 'tab\there', 'del\u007f', 'Zoë 李 🙂', '👩‍👩‍👧 family', '\u202eRTL override', '\u2028\u2029 separators',
    '{{ event.call_id }}', '{{{ event.call_id }}}', '<script>alert(1)</script>', '"; DROP TABLE calls; --', '  padded  ', ' ', 'a/b\\c?d=e&f#g', '+1 (555) 123-4567',
    '\ud800 lone high', 'lone low \udfff', 'x'.repeat(200 * 1024), big,
  ];
}

/** Strings from the whole of Unicode, lone surrogates included. */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('/', '.', '%', '?', '#', '&', '=', '+', ' ', '\r', '\n', '"', '\\', '{', '}', 'a', 'é', '🙂'), maxLength: 40 }),
);
