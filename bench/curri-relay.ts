import { createServer } from 'node:http';
import axios from 'axios';
import http from 'node:http';

/**
 * The baseline `npm run bench:curri` measures callhook against: a bare Node HTTP server that
 * does the least a CURRI server with one CRM lookup can do. It reads the request, forwards the
 * caller's number to the receiver with keep-alive axios, and answers a fixed CIXML continue (or,
 * on any other path, the receiver's JSON). No parsing, no policy, no record, no metrics.
 * Prints its port; RECEIVER_URL is the receiver's.
 */
const receiver = process.env.RECEIVER_URL!;
const client = axios.create({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: 256 }), proxy: false });
const ANSWER =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Result><Decision>Permit</Decision><Status></Status><Obligations>' +
  '<Obligation FulfillOn="Permit" ObligationId="urn:cisco:xacml:policy-attribute"><AttributeAssignment AttributeId="Policy:simplecontinue">' +
  '<AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">&lt;cixml ver="1.0"&gt;&lt;continue&gt;&lt;/continue&gt;&lt;/cixml&gt;</AttributeValue>' +
  '</AttributeAssignment></Obligation></Obligations></Result></Response>';

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    const calling = /callingnumber"[^>]*>\s*<AttributeValue>([^<]*)</i.exec(body)?.[1] ?? '';
    client.get(`${receiver}/contacts`, { params: { phone: calling } }).then(
      (response) => {
        if (req.url?.startsWith('/curri')) res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' }).end(ANSWER);
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ app_data: { crm: response.data } }));
      },
      () => res.writeHead(502).end(),
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
