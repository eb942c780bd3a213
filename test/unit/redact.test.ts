import type { AppResult, AttemptLogEntry } from '../../src/model/call';
import { redactAttempts, redactResult } from '../../src/pipeline/redact-result';
import { REDACTED, Redactor } from '../../src/util/redact';

describe('Redactor.deep', () => {
  const redactor = new Redactor(['s3cret-token', 'pa ss']);

  it('hides every spelling of a secret in strings and keys, at any depth', () => {
    const value = { a: ['x s3cret-token y', { 'pa+ss': 1, deep: { url: 'https://h/?k=pa%20ss' } }], n: 2, t: true, z: null };
    expect(redactor.deep(value)).toEqual({ a: [`x ${REDACTED} y`, { [REDACTED]: 1, deep: { url: `https://h/?k=${REDACTED}` } }], n: 2, t: true, z: null });
  });

  it('returns the very same value when nothing needs hiding, and copies only what changes', () => {
    const clean = { a: [1, 'two', { three: 3 }], b: { c: 'd' } };
    expect(redactor.deep(clean)).toBe(clean);
    const mixed = { keep: { x: 1 }, hide: ['s3cret-token'] };
    const shown = redactor.deep(mixed) as typeof mixed;
    expect(shown).not.toBe(mixed);
    expect(shown.keep).toBe(mixed.keep);
    expect(shown.hide).toEqual([REDACTED]);
    expect(mixed.hide).toEqual(['s3cret-token']); // the original is left alone
  });

  it('keeps a __proto__ key from parsed JSON as a key, turns errors into plain objects, and cuts cycles', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": "s3cret-token"}, "ok": 1}') as Record<string, unknown>;
    const shown = redactor.deep(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(shown)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(shown, '__proto__')?.value).toEqual({ polluted: REDACTED });
    expect(redactor.deep(new Error('failed with s3cret-token'))).toEqual({ type: 'Error', message: `failed with ${REDACTED}`, code: undefined });
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    expect(redactor.deep(cycle)).toEqual({ name: 'loop', self: REDACTED });
  });
});

describe('spellings of a secret', () => {
  const quoted = 'Tr0ub4"dor\\&3';
  const starred = 'p*ss w0rd~1';
  const redactor = new Redactor([quoted, starred]);

  it('hides a secret JSON-escaped, as a receiver echoing a JSON body as text writes it', () => {
    const echoed = JSON.stringify({ user: 'bob', password: quoted });
    expect(echoed).toContain('Tr0ub4\\"dor\\\\&3');
    expect(redactor.text(echoed)).toBe(`{"user":"bob","password":"${REDACTED}"}`);
  });

  it('hides a secret form-encoded as URLSearchParams writes it (`~` as %7E, `*` as it is)', () => {
    const form = new URLSearchParams({ user: 'bob', password: starred }).toString();
    expect(form).toBe('user=bob&password=p*ss+w0rd%7E1');
    expect(redactor.text(form)).toBe(`user=bob&password=${REDACTED}`);
    expect(redactor.text('k=p%2Ass%20w0rd~1&f=p%2Ass+w0rd~1')).toBe(`k=${REDACTED}&f=${REDACTED}`); // as before: RFC 3986, and + for space
  });

  it('with() adds the spellings of the new secrets only', () => {
    const more = redactor.with(['tok"en-42']);
    expect(more.text('a tok\\"en-42 b p*ss+w0rd%7E1')).toBe(`a ${REDACTED} b ${REDACTED}`);
    // The known spellings are taken as they are: no spelling of a spelling (the % of %7E encoded again).
    expect(more.text('p*ss%2Bw0rd%257E1')).toBe('p*ss%2Bw0rd%257E1');
  });
});


describe('redactResult: free text only, never the result\'s structure', () => {
  // Per-attempt credentials are rendered from call data, so they can be any word: here the
  // very words a result is made of.
  const redactor = new Redactor(['failed', 'status', 'message', 'CALLHOOK_HTTP_STATUS', '2026-', 'GET']);
  const log: AttemptLogEntry[] = [{ at: '2026-01-01T00:00:00.000Z', http_status: 503, duration_ms: 3, error: { code: 'CALLHOOK_HTTP_STATUS', message: 'HTTP 503: failed' }, retry_in_ms: null }];
  const result: AppResult = {
    status: 'failed',
    http_status: 503,
    data: { status: 'failed', other: 1 },
    message: 'the app failed',
    attempts: 2,
    duration_ms: 3,
    unresolved: ['event.status'],
    error: { code: 'CALLHOOK_HTTP_STATUS', message: 'HTTP 503: failed' },
    attempts_log: log,
    request: { method: 'GET', url: 'http://h/x?author=failed', headers: { 'X-Status': 'failed', status: 'x' }, body_bytes: 0 },
  };

  it('keeps keys, status, codes, numbers, times and template paths; hides data, messages, URL and headers', () => {
    const shown = redactResult(result, redactor);
    expect(shown).toEqual({
      status: 'failed',
      http_status: 503,
      data: { [REDACTED]: REDACTED, other: 1 },
      message: `the app ${REDACTED}`,
      attempts: 2,
      duration_ms: 3,
      unresolved: ['event.status'],
      error: { code: 'CALLHOOK_HTTP_STATUS', message: `HTTP 503: ${REDACTED}` },
      attempts_log: [{ ...log[0], error: { code: 'CALLHOOK_HTTP_STATUS', message: `HTTP 503: ${REDACTED}` } }],
      request: { method: 'GET', url: `http://h/x?author=${REDACTED}`, headers: { 'X-Status': REDACTED, [REDACTED]: 'x' }, body_bytes: 0 },
    });
    expect(result.data).toEqual({ status: 'failed', other: 1 }); // the original is left alone
    expect(redactAttempts(log, redactor)[0]).toEqual(shown.attempts_log[0]);
  });

  it('returns the very same result (and log) when nothing needs hiding', () => {
    const none = new Redactor([]);
    expect(redactResult(result, none)).toBe(result);
    const unrelated = new Redactor(['s3cret-token']);
    expect(redactResult(result, unrelated)).toBe(result);
    expect(redactAttempts(log, unrelated)).toBe(log);
  });
});
