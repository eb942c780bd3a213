import fc from 'fast-check';
import { z } from 'zod';
import { eventSchema, MAX_EVENT_BYTES, parseEvent, parseEvents } from '../../src/events/schema';

describe('call events', () => {
  it('fills in call_id and timestamp and keeps extra fields', () => {
    const check = parseEvent({ calling_number: '+15551234567', called_number: '1000', queue: 'support' });
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.event.call_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(check.event.timestamp)).not.toBeNaN();
    expect(check.event.queue).toBe('support');
  });

  it('lists every problem', () => {
    const check = parseEvent({ called_number: 5, call_id: 'a/b', timestamp: 'yesterday', app_data: [] });
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.problems).toEqual(expect.arrayContaining([
      'calling_number: is required',
      expect.stringMatching(/^called_number: /),
      expect.stringMatching(/^call_id: /),
      'timestamp: must be an ISO 8601 date-time',
      expect.stringMatching(/^app_data: /),
    ]));
  });

  it('the timestamp pattern the OpenAPI document carries takes exactly the timestamps the API takes', () => {
    const { pattern } = (z.toJSONSchema(eventSchema, { io: 'input' }) as unknown as { properties: { timestamp: { pattern: string } } }).properties.timestamp;
    const documented = new RegExp(pattern);
    const accepted = (timestamp: string) => parseEvent({ calling_number: '1', called_number: '2', timestamp }).ok;
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const year = fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 99, 999, 1000, 1200, 1300, 1900, 2000, 2024, 2025, 2100, 2400)).map((n) => String(n).padStart(4, '0'));
    const time = fc.tuple(fc.constantFrom('T', ' '), two(25), two(61), fc.option(two(61)), fc.option(fc.constantFrom('.0', '.5', '.000', '.1234567')), fc.option(fc.oneof(fc.constant('Z'), fc.tuple(fc.constantFrom('+', '-'), two(25), fc.constantFrom(':', ''), two(61)).map((z) => z.join('')))));
    const timestamp = fc.tuple(year, two(13), two(32), fc.option(time)).map(([y, m, d, t]) => `${y}-${m}-${d}${t ? `${t[0]}${t[1]}:${t[2]}${t[3] === null ? '' : `:${t[3]}${t[4] ?? ''}`}${t[5] ?? ''}` : ''}`);
    fc.assert(fc.property(timestamp, (t) => documented.test(t) === accepted(t)), { numRuns: 5000 });
    for (const t of ['2026-02-30T10:00:00Z', '2026-12-01T25:00:00Z', '2025-02-29', '2100-02-29', '0099-01-01 10:00', '2026-12-01T24:00:01Z']) expect([t, documented.test(t), accepted(t)]).toEqual([t, false, false]);
    for (const t of ['2024-02-29', '2000-02-29T10:00Z', '2026-12-01T24:00:00Z', '2026-12-01 10:00:00.123+01:00']) expect([t, documented.test(t), accepted(t)]).toEqual([t, true, true]);
  });

  it('takes a timestamp only on a day that exists', () => {
    for (const timestamp of ['2026-02-31T10:00:00Z', '2026-13-01T00:00:00Z', '2026-04-31', '2025-02-29T00:00:00Z']) {
      expect(parseEvent({ calling_number: '1', called_number: '2', timestamp })).toEqual({ ok: false, problems: ['timestamp: must be an ISO 8601 date-time'] });
    }
    for (const timestamp of ['2024-02-29T23:59:59.999Z', '2026-11-30T10:00:00+01:00', '2026-11-30']) expect(parseEvent({ calling_number: '1', called_number: '2', timestamp }).ok).toBe(true);
  });

  it('refuses events over 256 KiB', () => {
    const check = parseEvent({ calling_number: '1', called_number: '2', calling_name: 'x'.repeat(MAX_EVENT_BYTES) });
    expect(check.ok).toBe(false);
  });

  it('takes a batch all or nothing, naming the bad item', () => {
    const result = parseEvents([{ calling_number: '1', called_number: '2' }, { calling_number: '1' }]);
    expect(result).toEqual({ ok: false, problems: ['[1].called_number: is required'] });
    expect(parseEvents([]).ok).toBe(false);
    expect(parseEvents('text').ok).toBe(false);
  });
});
