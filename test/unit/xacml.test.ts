import { parseCurriRequest } from '../../src/curri/xacml';

describe('the XACML reader', () => {
  it('skips a `>` inside a quoted attribute value, of either quote', () => {
    const xml = `<Request><Attribute x='a>b' AttributeId="urn:Cisco:uc:1.0:callingnumber" y="c'd>"><AttributeValue>O&apos;Brien's &gt;</AttributeValue></Attribute></Request>`;
    expect(parseCurriRequest(xml)).toEqual({ ok: true, attributes: expect.objectContaining({ callingNumber: "O'Brien's >" }) });
    expect(parseCurriRequest('<Request><Attribute AttributeId="x>')).toEqual({ ok: false, reason: 'an unterminated tag' });
  });

  it('reads an element name ended by any whitespace, and its prefix up to the first colon', () => {
    const xml = `<x:Request\u00a0a="1"><p:Attribute\fAttributeId="urn:Cisco:uc:1.0:callednumber"><q:AttributeValue>1000</q:AttributeValue></p:Attribute></x:Request>`;
    expect(parseCurriRequest(xml)).toEqual({ ok: true, attributes: expect.objectContaining({ calledNumber: '1000' }) });
  });

  it('reads each Attribute tag the same the first time and when it has seen it before, however many distinct tags come', () => {
    const request = (issuer: number, id: string) =>
      `<Request><Attribute Issuer="n${issuer}" AttributeId="${id}"><AttributeValue>5550100</AttributeValue></Attribute>` +
      `<Attribute Issuer="n${issuer}" AttributeId="urn:Cisco:uc:1.0:callednumber"><AttributeValue>2000</AttributeValue></Attribute></Request>`;
    for (let round = 0; round < 2; round++) {
      // More distinct tags than the reader remembers: those past its bound are read each time.
      for (let issuer = 0; issuer < 600; issuer++) {
        const id = issuer % 2 === 0 ? 'urn:Cisco:uc:1.0:callingnumber' : 'URN:CISCO:UC:1.0:TRANSFORMEDCGPN';
        const parsed = parseCurriRequest(request(issuer, id));
        if (!parsed.ok) throw new Error(parsed.reason);
        const { attributes } = parsed;
        expect([attributes.callingNumber, attributes.transformedCallingNumber, attributes.calledNumber]).toEqual(issuer % 2 === 0 ? ['5550100', '', '2000'] : ['', '5550100', '2000']);
      }
    }
    expect(parseCurriRequest(request(1, 'urn:other'))).toEqual({ ok: true, attributes: expect.objectContaining({ callingNumber: '', calledNumber: '2000' }) });
  });

  it('reads attribute names and values one way however the tag is written, and drops comments inside a value', () => {
    const value = (tag: string) => {
      const parsed = parseCurriRequest(`<Request><Attribute ${tag}><AttributeValue>5550100</AttributeValue></Attribute><Attribute AttributeId="urn:Cisco:uc:1.0:callednumber"><AttributeValue>2000</AttributeValue></Attribute></Request>`);
      return parsed.ok ? parsed.attributes.callingNumber : parsed.reason;
    };
    expect(value('AttributeId = "urn:Cisco:uc:1.0:callingnumber"')).toBe('5550100');
    expect(value('x:attributeid=\'urn:Cisco:uc:1.0:callingnumber\'')).toBe('5550100');
    expect(value('Issuer=n1 DataType="a=b" AttributeId="urn:Cisco:uc:1.0:callingnumber"')).toBe('5550100');
    expect(value('NotAttributeId="urn:Cisco:uc:1.0:callingnumber"')).toBe('');
    expect(value('AttributeId')).toBe('');
    const commented = parseCurriRequest('<Request><Attribute AttributeId="urn:Cisco:uc:1.0:callingnumber"><AttributeValue>555<!-- a>b -->1234</AttributeValue></Attribute></Request>');
    expect(commented).toEqual({ ok: true, attributes: expect.objectContaining({ callingNumber: '5551234' }) });
  });

  it('reads long Attribute tags without an `=` in linear time', () => {
    // A greedy name pattern backtracked on these: 16 tags of 4 KiB took 0.45 s.
    const tag = `<Attribute ${'a'.repeat(4080)}>`;
    const xml = `<Request>${tag.repeat(64)}</Request>`;
    const started = process.hrtime.bigint();
    expect(parseCurriRequest(xml)).toEqual({ ok: false, reason: 'no calling or called number attribute' });
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(500);
  });

  it.each(['<a>', '<a:a b="c">'])('reads a body of many %s tags in time that grows with its length, not its square', (tag) => {
    // Searches for what is after a tag (the next quote, a prefix's colon) stay within the tag or
    // are remembered: from every tag to the end of a document without any would be quadratic.
    const fastest = (tags: number) => {
      const xml = `<Request>${tag.repeat(tags)}</Request>`;
      let best = Infinity;
      for (let i = 0; i < 5; i++) {
        const started = process.hrtime.bigint();
        parseCurriRequest(xml);
        best = Math.min(best, Number(process.hrtime.bigint() - started));
      }
      return best;
    };
    fastest(2000); // warm up
    const ratio = fastest(64_000) / fastest(2000);
    expect(ratio).toBeLessThan(150); // linear: about 32; searching on from every tag: several hundred
  });
});
