import { parseCurriRequest } from '../../src/curri/xacml';

describe('the XACML reader', () => {
  it('skips a `>` inside a quoted attribute value, of either quote', () => {
    const xml = `<Request><Attribute x='a>b' AttributeId="urn:Cisco:uc:1.0:callingnumber" y="c'd>"><AttributeValue>O&apos;Brien's &gt;</AttributeValue></Attribute></Request>`;
    expect(parseCurriRequest(xml)).toEqual({ ok: true, attributes: expect.objectContaining({ callingNumber: "O'Brien's >" }) });
    expect(parseCurriRequest('<Request><Attribute AttributeId="x>')).toEqual({ ok: false, reason: 'an unterminated tag' });
  });

  it('reads a body of many tags in time that grows with its length, not its square', () => {
    // The next quote is remembered between tags: searching for it from every tag of a document
    // with no quotes would read the rest of the document once per tag.
    const fastest = (tags: number) => {
      const xml = `<Request>${'<a>'.repeat(tags)}</Request>`;
      let best = Infinity;
      for (let i = 0; i < 5; i++) {
        const started = process.hrtime.bigint();
        parseCurriRequest(xml);
        best = Math.min(best, Number(process.hrtime.bigint() - started));
      }
      return best;
    };
    fastest(1000); // warm up
    const ratio = fastest(16_000) / fastest(1000);
    expect(ratio).toBeLessThan(80); // linear: about 16; searching per tag: about 256
  });
});
