/**
 * CUCM's answer to a CURRI request: an XACML `<Response>` whose decision carries a CIXML
 * directive (continue, possibly modifying the call or playing a greeting; reject; divert).
 */

/** What the call should do, as a policy's `curri:` block rendered it. */
export type CurriDirective =
  | { action: 'continue'; callingName?: string; callingNumber?: string; calledNumber?: string; greeting?: string }
  | { action: 'reject' }
  | { action: 'divert'; destination: string };

/** Characters XML 1.0 cannot carry even escaped (C0 controls but tab, DEL): dropped from call data. */
const NOT_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]/g;
const NEEDS_WORK = /[\x00-\x1f\x7f\ufffe\uffff&<>"']/;
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * The text without the characters XML cannot carry: what is left of it in the answer. A value
 * made only of them is empty, so it is left unmodified (not sent as an empty attribute).
 */
export function withoutNotXml(text: string): string {
  return text.replace(NOT_XML, '');
}

/**
 * XML-escapes text for an element or an attribute value. Line breaks and tabs become spaces: an
 * XML parser turns them into spaces in an attribute anyway, and a phone shows one line.
 */
export function escapeXml(text: string): string {
  if (!NEEDS_WORK.test(text)) return text; // most names and numbers: one scan, no copies
  return text.replace(NOT_XML, '').replace(/[\t\n\r]/g, ' ').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The CIXML of a directive; every value escaped for its attribute or element. */
export function cixml(directive: CurriDirective): string {
  switch (directive.action) {
    case 'reject':
      return '<cixml ver="1.0"><reject></reject></cixml>';
    case 'divert':
      return `<cixml ver="1.0"><divert><destination>${escapeXml(directive.destination)}</destination></divert></cixml>`;
    case 'continue': {
      const modify = (
        [
          ['callingname', directive.callingName],
          ['callingnumber', directive.callingNumber],
          ['callednumber', directive.calledNumber],
        ] as const
      )
        .filter(([, value]) => value)
        .map(([name, value]) => ` ${name}="${escapeXml(value!)}"`)
        .join('');
      const greeting = directive.greeting ? `<greeting identification="${escapeXml(directive.greeting)}"/>` : '';
      return `<cixml ver="1.0"><continue>${modify ? `<modify${modify}/>` : ''}${greeting}</continue></cixml>`;
    }
  }
}

/**
 * The XACML response CUCM expects. The CIXML travels as the text of an AttributeValue, so it is
 * escaped once more: a caller named `O'Brien & Sons <VIP>` is escaped twice and shows exactly
 * that on the phone.
 */
export function xacmlResponse(directive: CurriDirective): string {
  const decision = directive.action === 'reject' ? 'Deny' : 'Permit';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<Response><Result><Decision>${decision}</Decision><Status></Status><Obligations>` +
    `<Obligation FulfillOn="${decision}" ObligationId="urn:cisco:xacml:policy-attribute">` +
    '<AttributeAssignment AttributeId="Policy:simplecontinue">' +
    `<AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">${escapeXml(cixml(directive))}</AttributeValue>` +
    '</AttributeAssignment></Obligation></Obligations></Result></Response>'
  );
}
