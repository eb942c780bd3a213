import { cixml, xacmlResponse } from '../../src/curri/cixml';

describe('CIXML directives', () => {
  it('escapes every value once for CIXML, and the whole CIXML once more inside the XACML answer', () => {
    const inner = cixml({ action: 'continue', callingName: `O'Brien & Sons <VIP>` });
    expect(inner).toBe('<cixml ver="1.0"><continue><modify callingname="O&apos;Brien &amp; Sons &lt;VIP&gt;"/></continue></cixml>');
    expect(xacmlResponse({ action: 'continue', callingName: 'A&B' })).toContain('callingname=&quot;A&amp;amp;B&quot;');
  });

  it('a line break or tab in call data becomes a space; characters XML cannot carry are dropped', () => {
    expect(cixml({ action: 'continue', callingName: 'Jane\r\nDoe\tSr\u0007' })).toContain('callingname="Jane  Doe Sr"');
    expect(cixml({ action: 'divert', destination: '2000\n' })).toBe('<cixml ver="1.0"><divert><destination>2000 </destination></divert></cixml>');
  });

  it('reject has no values; an empty modify is left out', () => {
    expect(cixml({ action: 'reject' })).toBe('<cixml ver="1.0"><reject></reject></cixml>');
    expect(cixml({ action: 'continue', callingName: '' })).toBe('<cixml ver="1.0"><continue></continue></cixml>');
  });
});
