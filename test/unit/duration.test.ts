import { formatDuration, parseAgo, parseDuration, parseTimeBound, timeBoundProblem } from '../../src/util/duration';

describe('durations', () => {
  it('reads numbers, units and blanks around them', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(' 5 s ')).toBe(5000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('2H')).toBe(7_200_000);
    expect(parseDuration('42')).toBe(42);
    expect(parseDuration(7)).toBe(7);
    for (const bad of ['', 's', '1x', '1 2s', '-1s', '1e3', 'Infinity', -1, NaN, null]) expect(parseDuration(bad)).toBeUndefined();
    expect(parseTimeBound('1h', 10_000_000)).toBe(10_000_000 - 3_600_000);
    expect(parseTimeBound('2026-11-29T10:00:00Z')).toBe(Date.UTC(2026, 10, 29, 10));
    expect(formatDuration(90_061_000)).toBe('1d 1h 1m 1s');
  });

  it('a time bound back from now needs its unit: a number alone is neither a time nor a duration', () => {
    const now = 1_764_400_000_000;
    expect(parseTimeBound('90 m', now)).toBe(now - 5_400_000);
    expect(parseTimeBound('250ms', now)).toBe(now - 250);
    expect(parseTimeBound('2026-12-01', now)).toBe(Date.UTC(2026, 11, 1));
    // Read as ms, these were the present and 5.6 hours ago.
    for (const bare of ['1764400000000', '20261201', ' 42 ', '1.5']) {
      expect(parseTimeBound(bare, now)).toBeUndefined();
      expect(timeBoundProblem(bare)).toBe(`"${bare}" is a number alone: give a duration back from now its unit (30m, 1h, 7d), or a time as ISO 8601 (2026-11-29 or 2026-11-29T10:00:00Z)`);
    }
    expect(timeBoundProblem('yesterday')).toBe('"yesterday" is not an ISO 8601 time or a duration such as 1h or 7d');
    expect(parseAgo('7d')).toBe(604_800_000);
    expect(parseAgo('3600000')).toBeUndefined();
    // Settings and policy durations keep a number as ms.
    expect(parseDuration('3600000')).toBe(3_600_000);
  });

  it('takes linear time on hostile input (a query parameter is untrusted)', () => {
    // Quadratic backtracking took 0.4 s on 16,000 characters; this is 1,000,000.
    const hostile = ['1' + ' '.repeat(1_000_000) + 'x', ' '.repeat(1_000_000) + '1x', '1'.repeat(1_000_000) + ' x'];
    const started = process.hrtime.bigint();
    for (const value of hostile) {
      expect(parseDuration(value)).toBeUndefined();
      expect(parseTimeBound(value)).toBeUndefined();
      expect(parseAgo(value)).toBeUndefined();
    }
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2000);
  });
});
