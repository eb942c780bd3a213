import type { CallRecord } from '../../src/model/call';
import { csvRows } from '../../src/results/csv';
import { printable } from '../../src/util/terminal';

const call = (calling_number: string): CallRecord => ({
  call_id: 'c-1',
  policy: null,
  status: 'unmatched',
  event: { call_id: 'c-1', timestamp: '2026-11-30T00:00:00.000Z', calling_number, called_number: '1000' },
  app_data: {},
  created_at: '2026-11-30T00:00:00.000Z',
  finished_at: '2026-11-30T00:00:01.000Z',
});
const callingCell = (calling: string) => csvRows(call(calling)).split(',')[3];

describe('CSV export: cells a spreadsheet would run', () => {
  it.each(['=1+1', '@SUM(A1)', '+1-1', '-2-3', '-(1)-(2)', '+1 (555) 010-0100', '+'])('%s gets a leading quote', (value) => {
    expect(callingCell(value)).toBe(`'${value}`);
  });

  it.each(['+15550100100', '-5', '1000', '-1.5'])('the plain number %s is kept as it is', (value) => {
    expect(callingCell(value)).toBe(value);
  });
});

describe('CSV export to a terminal', () => {
  it('writes control characters as escapes with printable; exact otherwise', () => {
    const number = '\u001b]52;c;ZXZpbA==\u0007\u009b2J\u202e5551';
    expect(csvRows(call(number), printable).split(',')[3]).toBe('\\u001b]52;c;ZXZpbA==\\u0007\\u009b2J\\u202e5551');
    expect(csvRows(call(number)).split(',')[3]).toBe(number);
    expect(csvRows(call('=1+1\u0007'), printable).split(',')[3]).toBe("'=1+1\\u0007"); // still not a formula
  });
});
