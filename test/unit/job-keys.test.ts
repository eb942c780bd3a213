import fc from 'fast-check';
import { jobIdFor } from '../../src/store/job-keys';

describe('job ids', () => {
  it('are never integer-like, and no two call ids share one', () => {
    expect(['777001', 'n777001', 'nn777001', 'n', 'n7a', 'cdr-1-2'].map(jobIdFor)).toEqual(['n777001', 'nn777001', 'nnn777001', 'n', 'n7a', 'cdr-1-2']);
    fc.assert(
      fc.property(fc.stringMatching(/^[n0-9a-]{1,8}$/), fc.stringMatching(/^[n0-9a-]{1,8}$/), (a, b) => {
        expect(/^\d+$/.test(jobIdFor(a))).toBe(false);
        if (a !== b) expect(jobIdFor(a)).not.toBe(jobIdFor(b));
      }),
      { numRuns: 5000 },
    );
  });
});
