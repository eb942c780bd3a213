import fc from 'fast-check';
import { parseJsonExactIntegers, quoteUnsafeIntegers } from '../../src/util/json-integers';

describe('parseJsonExactIntegers', () => {
  it('keeps the exact digits of integers that are not safe integers, as text', () => {
    expect(parseJsonExactIntegers('{"id":1234567890123456789,"neg":-9007199254740993,"list":[18446744073709551615]}')).toEqual({ id: '1234567890123456789', neg: '-9007199254740993', list: ['18446744073709551615'] });
    expect(parseJsonExactIntegers('12345678901234567890')).toBe('12345678901234567890');
  });

  it('leaves safe integers, fractions, exponents and strings as JSON.parse reads them', () => {
    const text = '{"safe":9007199254740991,"sixteen":1234567890123456,"f":12345678901234567890.5,"e":12345678901234567890e2,"E":1E+400,"s":"12345678901234567890","k\\"12345678901234567890":1,"esc":"a\\\\","n":12345678901234567890}';
    expect(parseJsonExactIntegers(text)).toEqual({ ...JSON.parse(text), n: '12345678901234567890' });
  });

  it('keeps JSON.parse\'s own semantics: duplicate keys, __proto__ as a key, errors', () => {
    expect(parseJsonExactIntegers('{"a":12345678901234567890,"a":2}')).toEqual({ a: 2 });
    const proto = parseJsonExactIntegers('{"__proto__":{"x":12345678901234567890}}') as object;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value).toEqual({ x: '12345678901234567890' });
    for (const bad of ['{"a":012345678901234567890}', '{"a":--12345678901234567890}', '{"a":+12345678901234567890}', 'x12345678901234567890', '{"a":12345678901234567890']) {
      expect(() => parseJsonExactIntegers(bad)).toThrow(SyntaxError);
    }
  });

  it('agrees with JSON.parse on any JSON without such integers, and with a BigInt reading on any integer', () => {
    // Doubles that JSON.stringify writes as integer literals beyond 2^53 (1.2345e20) are the case above.
    const safe = (v: unknown): unknown => (typeof v === 'number' ? (Number.isInteger(v) && !Number.isSafeInteger(v) ? 0 : v) : Array.isArray(v) ? v.map(safe) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, safe(x)])) : v);
    fc.assert(
      fc.property(fc.jsonValue().map(safe), (value) => {
        const text = JSON.stringify(value);
        expect(parseJsonExactIntegers(text)).toEqual(JSON.parse(text));
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.string(), (n, s) => {
        const parsed = parseJsonExactIntegers(`{"s":${JSON.stringify(s)},"n":${n}}`) as { n: unknown; s: string };
        expect(parsed.s).toBe(s);
        expect(parsed.n).toBe(Number.isSafeInteger(Number(n)) ? Number(n) : String(n));
      }),
    );
  });

  it('returns the very text when there is nothing to quote', () => {
    const text = '{"phone":"12345678901234567890","n":1.5}';
    expect(quoteUnsafeIntegers(text)).toBe(text);
  });
});
