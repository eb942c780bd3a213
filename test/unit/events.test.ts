import { MAX_EVENT_BYTES, parseEvent, parseEvents } from '../../src/events/schema';

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
