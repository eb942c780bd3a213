import { createServer } from 'node:http';

/**
 * The benchmarks' stand-in receiver, run in its own process so that its work does not share
 * the measured process's event loop. Answers every request with a small JSON body and prints
 * its port.
 *   COUNT=1  counts requests per Idempotency-Key (GET /__stats: total, distinct, duplicates)
 *   TIMES=1  records when the first request of each Idempotency-Key arrived, in microseconds of
 *            the system-wide monotonic clock (process.hrtime), so another process can compare
 *            it with its own hrtime readings (GET /__times: {key: us})
 * GET /__stats always carries total and the first/last arrival (us); POST /__reset clears all.
 * A path starting /flaky/ answers 503 to the first request of each Idempotency-Key (a retry).
 */
const counting = process.env.COUNT === '1';
const timing = process.env.TIMES === '1';
const seen = new Map<string, number>();
const flakySeen = new Set<string>();
const firstAt = new Map<string, number>();
let total = 0;
let first = 0;
let last = 0;
const body = JSON.stringify({ customer_id: 'CUST-12345', name: 'John Doe', company: 'ACME Corp', vip: true });
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

const server = createServer((req, res) => {
  if (req.url === '/__stats') {
    let duplicates = 0;
    for (const n of seen.values()) if (n > 1) duplicates += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ total, distinct: seen.size, duplicates, first_us: first, last_us: last }));
    return;
  }
  if (req.url === '/__times') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(Object.fromEntries(firstAt)));
    return;
  }
  if (req.url === '/__reset') {
    seen.clear();
    flakySeen.clear();
    firstAt.clear();
    total = first = last = 0;
    req.resume();
    res.writeHead(204).end();
    return;
  }
  const arrived = timing ? nowUs() : 0;
  req.resume();
  req.on('end', () => {
    total += 1;
    if (counting || timing) {
      const key = String(req.headers['idempotency-key'] ?? '');
      if (counting) seen.set(key, (seen.get(key) ?? 0) + 1);
      if (timing && !firstAt.has(key)) firstAt.set(key, arrived);
      last = arrived || nowUs();
      if (total === 1) first = last;
    }
    if (req.url?.startsWith('/flaky/')) {
      const key = String(req.headers['idempotency-key'] ?? '');
      if (!flakySeen.has(key)) {
        flakySeen.add(key);
        res.writeHead(503, { 'content-length': '0' }).end();
        return;
      }
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
