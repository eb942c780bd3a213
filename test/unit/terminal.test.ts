import { formatCallTest } from '../../src/call-test/format';
import type { CallTestReport } from '../../src/call-test/run';
import { isTerminal, printable, printableJson } from '../../src/util/terminal';

describe('text for a terminal', () => {
  it('writes control characters, line separators and bidi overrides as escapes, and keeps every other character', () => {
    expect(printable('\u001b]52;c;ZXZpbA==\u0007 \u009b2J a\nb\r \u2028 \u202eevil \u2066x\u2069 \u007f')).toBe(
      '\\u001b]52;c;ZXZpbA==\\u0007 \\u009b2J a\\u000ab\\u000d \\u2028 \\u202eevil \\u2066x\\u2069 \\u007f',
    );
    for (const text of ["O'Brien & Sons <VIP>", 'José Ñúñez', '李小龍', '+1 (555) 010-0100', 'emoji 📞', '\u200d']) expect(printable(text)).toBe(text);
  });

  it('JSON for a terminal: C1 controls, line separators and bidi controls escaped, still the same JSON', () => {
    const value = { n: '\u001b[2J\u009b2J\u0085\u2028\u202e\u2067x', ok: 'Zoë 李' };
    for (const json of [JSON.stringify(value), JSON.stringify(value, null, 2)]) {
      const shown = printableJson(json);
      expect(shown).not.toMatch(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
      expect(shown).toContain('\\u009b2J\\u0085\\u2028\\u202e\\u2067x');
      expect(JSON.parse(shown)).toEqual(value);
    }
    expect(isTerminal({ isTTY: true })).toBe(true);
    expect(isTerminal({})).toBe(false);
  });

  it('Call Test text shows an event field and a receiver answer as text', () => {
    const report = {
      policy: 'p',
      phase: 'post_call',
      call_id: 'c1',
      event: { call_id: 'c1', calling_number: '\u001b[2J5550100', called_number: '1000' },
      apps: [
        {
          name: 'CRM',
          slug: 'crm',
          phase: 'post_call',
          order: 1,
          request: { method: 'GET', url: 'http://crm.test/x', headers: {}, body: undefined },
          result: { status: 'failed', http_status: 500, data: null, message: 'HTTP 500: \u001b]0;title\u0007', attempts: 1, duration_ms: 3, error: null },
          unresolved: [],
        },
      ],
    } as unknown as CallTestReport;
    const text = formatCallTest(report);
    expect(text).toContain('calling \\u001b[2J5550100 → called 1000');
    expect(text).toContain('message: HTTP 500: \\u001b]0;title\\u0007');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
  });
});
