/**
 * CUCM's External Call Control request: an XACML 2.0 `<Request>` whose `<Attribute
 * AttributeId="…">` elements carry the call. Read by attribute id with a small linear scanner,
 * tolerant of what CUCM versions and proxies send (element names in any case, a commented-out XML
 * declaration, stray text inside an Attribute, empty values, unknown attributes) and of nothing
 * dangerous: no DTD, no external entity, only the five predefined entities and character
 * references are decoded, and the scan is linear in the body.
 */

const MAX_TAG_CHARS = 4096;

/** What callhook reads from a CURRI request. */
export interface CurriAttributes {
  callingNumber: string;
  calledNumber: string;
  transformedCallingNumber: string;
  transformedCalledNumber: string;
  callingDeviceName: string;
  triggerPointType: string;
}

const IDS: Record<string, keyof CurriAttributes> = {
  'urn:cisco:uc:1.0:callingnumber': 'callingNumber',
  'urn:cisco:uc:1.0:callednumber': 'calledNumber',
  'urn:cisco:uc:1.0:transformedcgpn': 'transformedCallingNumber',
  'urn:cisco:uc:1.0:transformedcdpn': 'transformedCalledNumber',
  'urn:cisco:uc:1.0:callingdevicename': 'callingDeviceName',
  'urn:cisco:uc:1.0:triggerpointtype': 'triggerPointType',
};

export type CurriParse = { ok: true; attributes: CurriAttributes } | { ok: false; reason: string };

/** Reads the call out of a CURRI request; `ok: false` (with why) when it is not one. */
export function parseCurriRequest(xml: string): CurriParse {
  const attributes: CurriAttributes = { callingNumber: '', calledNumber: '', transformedCallingNumber: '', transformedCalledNumber: '', callingDeviceName: '', triggerPointType: '' };
  let sawRequest = false;
  let current: keyof CurriAttributes | undefined; // inside an Attribute we read
  let valueStart = -1; // inside its AttributeValue: where the text starts
  const tagEnd = tagEnds(xml);
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt === -1) break;
    const first = xml.charCodeAt(lt + 1); // '!', '?', '/' or a name
    if (first === BANG) {
      if (xml.startsWith('<!--', lt)) {
        const end = xml.indexOf('-->', lt + 4);
        if (end === -1) return { ok: false, reason: 'an unterminated comment' };
        i = end + 3;
        continue;
      }
      if (xml.startsWith('<![CDATA[', lt)) {
        const end = xml.indexOf(']]>', lt + 9);
        if (end === -1) return { ok: false, reason: 'an unterminated CDATA section' };
        i = end + 3;
        continue;
      }
      if (xml.startsWith('<!DOCTYPE', lt) || xml.startsWith('<!doctype', lt)) return { ok: false, reason: 'a document type declaration (refused)' };
    }
    const gt = tagEnd(lt + 1);
    if (gt === -1) return { ok: false, reason: 'an unterminated tag' };
    // CURRI's tags are short; a long one is not CURRI, and the attribute scan below stays cheap.
    if (gt - lt > MAX_TAG_CHARS) return { ok: false, reason: `a tag longer than ${MAX_TAG_CHARS} characters` };
    i = gt + 1;
    if (first === QUESTION || first === BANG) continue;
    const closing = first === SLASH;
    const name = elementName(xml, closing ? lt + 2 : lt + 1, gt);
    if (name === 'request' && !closing) sawRequest = true;
    else if (name === 'attribute') {
      if (closing) current = undefined;
      else current = attributeKey(xml.slice(lt + 1, gt));
      valueStart = -1;
    } else if (name === 'attributevalue' && current) {
      if (closing && valueStart !== -1) {
        attributes[current] = decodeText(xml.slice(valueStart, lt)).trim();
        valueStart = -1;
      } else if (!closing && xml.charCodeAt(gt - 1) !== SLASH) valueStart = i;
    }
  }
  if (!sawRequest) return { ok: false, reason: 'no <Request> element' };
  if (!attributes.callingNumber && !attributes.calledNumber && !attributes.transformedCalledNumber) return { ok: false, reason: 'no calling or called number attribute' };
  return { ok: true, attributes };
}

/**
 * Which attribute an `<Attribute …>` start tag carries, remembered by the tag's text: a CUCM
 * writes the same few tags in every request, and reading their AttributeId was a third of the
 * reader's time. Bounded: short tags only, and no more once it holds CACHED_TAGS of them.
 */
const attributeKeys = new Map<string, keyof CurriAttributes | null>();
const CACHED_TAGS = 256;
const CACHED_TAG_CHARS = 256;

function attributeKey(tag: string): keyof CurriAttributes | undefined {
  const cached = attributeKeys.get(tag);
  if (cached !== undefined) return cached ?? undefined;
  const key = IDS[(attributeValue(tag, 'attributeid') ?? '').toLowerCase()];
  if (tag.length <= CACHED_TAG_CHARS && attributeKeys.size < CACHED_TAGS) attributeKeys.set(tag, key ?? null);
  return key;
}

/**
 * Finds where tags end: the next `>`, unless a quote opens before it (an attribute value may hold
 * a `>`). Reads must move forward: the next quote of each kind is remembered, so a document with
 * many tags and few quotes is still searched once, not once per tag.
 */
function tagEnds(xml: string): (from: number) => number {
  let double = -2; // the next `"` at or after the last position asked (-1: none left)
  let single = -2;
  const quoteAt = (from: number): number => {
    if (double !== -1 && double < from) double = xml.indexOf('"', from);
    if (single !== -1 && single < from) single = xml.indexOf("'", from);
    return double === -1 ? single : single === -1 ? double : Math.min(double, single);
  };
  return (from) => {
    let at = from;
    for (;;) {
      const gt = xml.indexOf('>', at);
      if (gt === -1) return -1;
      const quote = quoteAt(at);
      if (quote === -1 || quote > gt) return gt;
      // Continue after the value's closing quote.
      const kind = xml.charCodeAt(quote);
      quoteAt(quote + 1);
      const close = kind === 0x22 ? double : single;
      if (close === -1) return -1;
      at = close + 1;
    }
  };
}

const BANG = 0x21;
const QUESTION = 0x3f;
const SLASH = 0x2f;
const COLON = 0x3a;

/** The lengths of the element names read (`request`, `attribute`, `attributevalue`): other names are not lower-cased. */
const NAME_LENGTHS = new Set([7, 9, 14]);

/**
 * The local name of the element whose name starts at `from` (before `end`), lower-cased:
 * `xacml-context:AttributeValue DataType="…"` → `attributevalue`; '' for names never read.
 */
function elementName(xml: string, from: number, end: number): string {
  let start = from;
  let stop = from;
  for (; stop < end; stop += 1) {
    const c = xml.charCodeAt(stop);
    if (isNameEnd(c)) break;
    if (c === COLON && start === from) start = stop + 1; // after the first prefix
  }
  return NAME_LENGTHS.has(stop - start) ? xml.slice(start, stop).toLowerCase() : '';
}

/** Where an element's name ends: whitespace (as `\s` reads it), `/` or `>`. */
function isNameEnd(c: number): boolean {
  return c === SLASH || c === 0x3e || isBlank(c);
}

/** An attribute's name without its prefix, lower-cased: `xsi:AttributeId` → `attributeid`. */
function localName(name: string): string {
  return name.slice(name.indexOf(':') + 1).toLowerCase();
}

/**
 * An attribute's value in a start tag, by name in any case. One pass: a pattern with a greedy
 * name before `=` backtracked quadratically on a long run without one (16 such 4 KiB tags took
 * 0.45 s of the event loop).
 */
function attributeValue(tag: string, wanted: string): string | undefined {
  let i = 0;
  while (i < tag.length) {
    if (!isNameChar(tag.charCodeAt(i))) {
      i += 1;
      continue;
    }
    const nameStart = i;
    while (i < tag.length && isNameChar(tag.charCodeAt(i))) i += 1;
    const name = tag.slice(nameStart, i);
    let at = skipBlanks(tag, i);
    if (tag.charCodeAt(at) !== EQUALS) continue;
    at = skipBlanks(tag, at + 1);
    const quote = tag[at];
    if (quote !== '"' && quote !== "'") continue;
    const close = tag.indexOf(quote, at + 1);
    if (close === -1) {
      i = at + 1; // an unclosed value: read on after its quote
      continue;
    }
    if (localName(name) === wanted) return decodeText(tag.slice(at + 1, close));
    i = close + 1;
  }
  return undefined;
}

const EQUALS = 0x3d;

/** Attribute names: anything but blanks, `=` and `/`. */
function isNameChar(c: number): boolean {
  return c !== EQUALS && c !== SLASH && !isBlank(c);
}

function skipBlanks(text: string, from: number): number {
  let at = from;
  while (at < text.length && isBlank(text.charCodeAt(at))) at += 1;
  return at;
}

/** Whitespace as `\s` reads it. */
function isBlank(c: number): boolean {
  if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) return true;
  return c > 0x7f && /\s/.test(String.fromCharCode(c));
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Element text: stray tags and comments dropped, entities and character references decoded, CDATA kept as it is. Linear. */
function decodeText(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    out += decodeEntities(text.slice(i, lt === -1 ? text.length : lt));
    if (lt === -1) break;
    if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9);
      out += text.slice(lt + 9, end === -1 ? text.length : end);
      i = end === -1 ? text.length : end + 3;
    } else if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      i = end === -1 ? text.length : end + 3;
    } else {
      const gt = text.indexOf('>', lt);
      i = gt === -1 ? text.length : gt + 1;
    }
  }
  return out;
}

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,4});/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
    }
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}
