import { createServer } from 'node:http';

/**
 * The benchmarks' stand-in receiver, run in its own process so that its work does not share
 * the measured process's event loop. Answers every request with a small JSON body and prints
 * its port; with COUNT=1 it also counts requests per Idempotency-Key (GET /__stats).
 */
const counting = process.env.COUNT === '1';
const seen = new Map<string, number>();
let total = 0;
const body = JSON.stringify({ customer_id: 'CUST-12345', name: 'John Doe', company: 'ACME Corp', vip: true });

const server = createServer((req, res) => {
  if (req.url === '/__stats') {
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ total, distinct: seen.size, duplicates }));
    return;
  }
  req.resume();
  req.on('end', () => {
    total += 1;
    if (counting) {
      const key = String(req.headers['idempotency-key'] ?? '');
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
