import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../../src/logger';
import { curriRequest, readCurriAnswer } from '../helpers/cucm';
import { startHarness } from '../helpers/harness';
import { openSocket } from '../helpers/raw-http';
import { Receiver } from '../helpers/receiver';

const TOKEN = 'd1e2a3d4l5i6n7e8b9o0d1y2s3l4o5w6';
const TIMEOUT_MS = 800;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * CALLHOOK_CURRI_TIMEOUT bounds the whole CURRI request, the time its body takes to arrive
 * included, and the answer is always a 200 XML: a client that sends its body slowly (or never
 * finishes it) gets the answer at the deadline, once.
 */
describe('CURRI: the deadline counts from the request, not from its body', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  const logLines: string[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ hang: true }));
    h = await startHarness(__filename, `
policies:
  - id: strict
    match: { called_number: "^3" }
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", timeout: 10s, retry_count: 0 }
    curri: { on_error: reject, post_call: false, calling_name: "{{ app_data.crm.data.name }}" }
`, {
      apiToken: TOKEN,
      worker: false,
      env: { CALLHOOK_CURRI_TIMEOUT: `${TIMEOUT_MS}ms` },
      // Node's own limit on a request's arrival (a 408), short enough to show within the test.
      timeouts: { requestMs: 2000 },
      logger: createLogger({ level: 'warn', destination: { write: (line: string) => void logLines.push(line) } }),
    });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  /** A POST /curri whose headers and first 100 bytes are sent at once; `rest()` sends the remainder. */
  async function slowPost(body: string) {
    const socket = await openSocket(h.baseUrl);
    const started = Date.now();
    const bytes = Buffer.from(body);
    socket.write(`POST /curri?api_key=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: ${bytes.length}\r\n\r\n`);
    socket.write(bytes.subarray(0, 100));
    const answered = async () => {
      for (let i = 0; i < 400 && !socket.received().includes('</Response>'); i++) await sleep(10);
      return Date.now() - started;
    };
    return { socket, started, answered, rest: () => socket.write(bytes.subarray(100)) };
  }

  it('a body that arrives slowly: the answer comes at the deadline from the request\'s start, the policy\'s on_error', async () => {
    const post = await slowPost(curriRequest({ calling: '5550001', called: '3000' }));
    await sleep(600);
    post.rest(); // the CRM then hangs: what is left of the 800 ms is all it gets
    const elapsed = await post.answered();
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 350); // not 600 ms of body plus a whole timeout
    const [head, body] = post.socket.received().split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(readCurriAnswer(body!)).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    post.socket.destroy();
  });

  it('a body that never finishes: the fail-open XML at the deadline, once, and the connection closed', async () => {
    const before = logLines.length;
    const post = await slowPost(curriRequest({ calling: '5550001', called: '3000' }));
    const elapsed = await post.answered();
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 350);
    // Closed by the server once the answer is out: nothing more can be read on it, or answered.
    expect(await post.socket.whenClosed).toBeLessThan(TIMEOUT_MS + 1000);
    await sleep(2500 - (Date.now() - post.started)); // past Node's 2 s request timeout
    const received = post.socket.received();
    expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    const [head, body] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(/^content-type: text\/xml/im);
    expect(head).toMatch(/^connection: close/im);
    // Which policy the call was for is unknown: a plain continue, whatever on_error says.
    expect(readCurriAnswer(body!)).toEqual({ decision: 'Permit', cixml: '<cixml ver="1.0"><continue></continue></cixml>' });
    const logged = logLines.slice(before).map((line) => JSON.parse(line) as { outcome?: string; reason?: string; msg?: string });
    expect(logged).toEqual([expect.objectContaining({ outcome: 'timeout', reason: `the request body did not arrive within ${TIMEOUT_MS} ms` })]);
    expect(receiver.to('/crm')).toHaveLength(1); // only the first test's call ran its app (so far)
  });

  it('a call whose app hangs is answered a little before the timeout, so that it reaches CUCM within it', async () => {
    const durationSum = async () => Number(/callhook_curri_duration_seconds_sum ([\d.]+)/.exec(await (await fetch(`${h.baseUrl}/metrics`)).text())![1]) * 1000;
    const before = await durationSum();
    // The API runs in this process: how late its timers may have fired is this event loop's delay.
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const answer = await fetch(`${h.baseUrl}/curri?api_key=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: curriRequest({ calling: '5550001', called: '3000' }) });
    loopDelay.disable();
    expect(readCurriAnswer(await answer.text())).toEqual({ decision: 'Deny', cixml: '<cixml ver="1.0"><reject></reject></cixml>' });
    // Answered from a timer 5 % (here 40 ms) before the timeout: within it, unless the event loop
    // itself was that late (a loaded machine), which the margin is there to absorb.
    const tookMs = (await durationSum()) - before;
    expect(tookMs).toBeLessThan(TIMEOUT_MS - 40 + loopDelay.max / 1e6 + 10);
  });

  it('counts both as timeouts, their durations including the time their bodies took', async () => {
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Deny",outcome="timeout"\} 2\b/);
    expect(metrics).toMatch(/callhook_curri_responses_total\{decision="Permit",outcome="timeout"\} 1\b/);
    expect(metrics).toMatch(/callhook_curri_duration_seconds_count 3\b/);
    const sum = Number(/callhook_curri_duration_seconds_sum ([\d.]+)/.exec(metrics)![1]);
    expect(sum).toBeGreaterThanOrEqual((3 * (TIMEOUT_MS - 50)) / 1000);
  });
});
