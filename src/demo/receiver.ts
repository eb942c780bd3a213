import { createServer, type Server } from 'node:http';

/** The demo's CRM: known callers by the digits of their number, as CRMs match numbers however they are written. */
const CONTACTS: Record<string, { customer_id: string; name: string; company: string; vip: boolean }> = {
  '15551234567': { customer_id: 'CUST-12345', name: 'John Doe', company: 'ACME Corp', vip: true },
  '15559876543': { customer_id: 'CUST-67890', name: "Siobhán O'Brien", company: "O'Brien & Sons", vip: false },
};

/**
 * A loopback stand-in for the systems callhook talks to: a CRM (`GET /crm/contacts/:number`,
 * 404 for unknown callers), tickets (`POST /tickets`), a chat tool (`POST /chat/messages`,
 * which answers 503 to the first attempt of each message, to show a retry) and analytics.
 */
export function createDemoReceiver(): Server {
  const firstAttempts = new Set<string>();
  let tickets = 1000;
  return createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
      if (req.method === 'GET' && path.startsWith('/crm/contacts/')) {
        const contact = CONTACTS[path.slice('/crm/contacts/'.length).replace(/\D/g, '')];
        return contact ? send(200, contact) : send(404, { error: 'unknown caller' });
      }
      if (req.method === 'POST' && path === '/tickets') return send(201, { ticket_id: `T-${++tickets}` });
      if (req.method === 'POST' && path === '/chat/messages') {
        const key = String(req.headers['idempotency-key'] ?? '');
        if (!firstAttempts.has(key)) {
          firstAttempts.add(key);
          return send(503, { error: 'chat is busy, try again' });
        }
        return send(200, { ok: true, ts: Date.now() / 1000 });
      }
      if (req.method === 'POST' && path === '/analytics/calls') return send(202, { accepted: true });
      if (path === '/healthz') return send(200, { status: 'ok' });
      return send(404, { error: `no route ${req.method} ${path}` });
    });
  });
}
