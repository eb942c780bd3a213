import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser';
import { curriRequest } from '../helpers/cucm';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

const CURRI = curriRequest({ calling: '7777', called: '1000' });

/** What a page can make a browser send without asking the API (no preflight): a text/plain POST. */
const attack = (api: string) => `fetch(${JSON.stringify(`${api}/curri`)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(CURRI)} }).then(() => 'sent', (e) => String(e))`;

describe('without a token, a page of another local origin cannot make the API act', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let browser: Browser;
  let elsewhere: http.Server;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ status: 200, body: { name: 'x' } }));
    h = await startHarness(__filename, `
policies:
  - id: p
    match: { called_number: "^1" }
    apps:
      - { name: CRM, phase: real_time, url: "${receiver.url}/crm", retry_count: 0 }
    curri: { post_call: false }
`, { worker: false });
    elsewhere = http.createServer((_req, res) => res.end('<!doctype html><title>another local app</title>')).listen(0, '127.0.0.1');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    elsewhere?.close();
    await h?.stop();
    await receiver?.stop();
  });

  /** Runs the attack from a page at `pageUrl`; answers the status the browser saw from /curri. */
  const fromPage = async (pageUrl: string) => {
    const page: Page = await browser.newPage();
    try {
      await page.goto(pageUrl);
      const answered = page.waitForResponse((r) => r.url().endsWith('/curri'));
      expect(await page.evaluate(attack(h.baseUrl))).toBe('sent');
      return (await answered).status();
    } finally {
      await page.close();
    }
  };

  it("a page on another port is refused; the API's own page is served", async () => {
    expect(await fromPage(`http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/`)).toBe(403);
    expect(receiver.to('/crm')).toHaveLength(0);
    expect(await fromPage(`${h.baseUrl}/healthz`)).toBe(200);
    await receiver.waitFor(1, '/crm');
  });
});
