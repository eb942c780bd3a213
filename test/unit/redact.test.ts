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
