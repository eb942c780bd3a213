import http from 'node:http';

/** A CURRI request as CUCM writes it (XACML 2.0), with the quirks seen in the wild on demand. */
export function curriRequest(call: {
  calling?: string;
  called?: string;
  transformedCalling?: string;
  transformedCalled?: string;
  device?: string;
  trigger?: string;
  /** Element names in lower case, the XML declaration commented out, stray text, unknown attributes, a namespace prefix. */
  quirky?: boolean;
}): string {
  const q = call.quirky ?? false;
  const el = (name: string) => (q ? name.toLowerCase() : name);
  const attribute = (id: string, value: string | undefined) =>
    `<${el('Attribute')} AttributeId="${id}" DataType="http://www.w3.org/2001/XMLSchema#string"${q ? ' Issuer="cucm-pub" x-extra="1"' : ''}>` +
    `${q ? '\n  stray text ' : ''}<${el('AttributeValue')}>${escape(value ?? '')}</${el('AttributeValue')}></${el('Attribute')}>`;
  return [
    q ? '<!--<?xml version="1.0" encoding="UTF-8"?>-->' : '<?xml version="1.0" encoding="UTF-8"?>',
    `<${el('Request')} xmlns="urn:oasis:names:tc:xacml:2.0:context:schema:os">`,
    `<${el('Subject')} SubjectCategory="urn:oasis:names:tc:xacml:1.0:subject-category:access-subject">`,
    attribute('urn:Cisco:uc:1.0:callingnumber', call.calling),
    attribute('urn:Cisco:uc:1.0:callednumber', call.called),
    attribute('urn:Cisco:uc:1.0:transformedcgpn', call.transformedCalling ?? call.calling),
    attribute('urn:Cisco:uc:1.0:transformedcdpn', call.transformedCalled ?? call.called),
    attribute('urn:Cisco:uc:1.0:callingdevicename', call.device ?? 'SEP001122334455'),
    q ? attribute('urn:Cisco:uc:1.0:unknownattribute', 'whatever') : '',
    `</${el('Subject')}>`,
    `<${el('Resource')}>${attribute('urn:oasis:names:tc:xacml:1.0:resource:resource-id', 'CISCO:UC:VoiceOrVideoCall')}</${el('Resource')}>`,
    `<${el('Action')}>${attribute('urn:oasis:names:tc:xacml:1.0:action:action-id', 'any')}</${el('Action')}>`,
    `<${el('Environment')}>${attribute('urn:Cisco:uc:1.0:triggerpointtype', call.trigger ?? 'translationpattern')}</${el('Environment')}>`,
    `</${el('Request')}>`,
  ].join('\n');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** What CUCM reads from callhook's answer: the decision and the CIXML, unescaped once. */
export function readCurriAnswer(xml: string): { decision: string; cixml: string } {
  const decision = /<Decision>(\w+)<\/Decision>/.exec(xml)?.[1] ?? '';
  const value = /<AttributeValue[^>]*>([\s\S]*)<\/AttributeValue>/.exec(xml)?.[1] ?? '';
  return { decision, cixml: unescape(value) };
}

/** An attribute of a CIXML element, unescaped (as the phone shows it). */
export function cixmlAttribute(cixml: string, element: string, attribute: string): string | undefined {
  const tag = new RegExp(`<${element}\\b([^>]*)/?>`).exec(cixml)?.[1] ?? '';
  const value = new RegExp(`${attribute}="([^"]*)"`).exec(tag)?.[1];
  return value === undefined ? undefined : unescape(value);
}

function unescape(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
}

/**
 * A client that talks to callhook as CUCM does: a few keep-alive HTTP/1.1 connections (one per
 * node), `HEAD` checks, and XACML posts with `Content-Type: text/xml`.
 */
export class CucmClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  constructor(private readonly url: string) {}

  request(method: 'POST' | 'HEAD', body = ''): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders; socket: number }> {
    return new Promise((resolve, reject) => {
      const req = http.request(this.url, { method, agent: this.agent, headers: { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(body) } }, (res) => {
        // Read now: a keep-alive socket goes back to the agent (res.socket = null) once the answer ends.
        const socket = res.socket.localPort ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers, socket }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
