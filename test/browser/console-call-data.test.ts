import type { Browser, Locator, Page } from 'playwright-core';
import { drawnText, launchBrowser, screenshot, watchPage } from '../helpers/browser';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

/**
 * Call data is written by callers: the console shows it as it is, each value in its place, and
 * the page keeps to its window whatever its length.
 */
describe('the web console, with call data callers wrote', () => {
  const RLO = '\u202e';
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let browser: Browser;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    // A file name that reads "invoiceexe.png" once the override reverses what follows it.
    receiver.on('/files', () => ({ status: 200, body: { attachment: `invoice${RLO}gnp.exe` } }));
    h = await startHarness(__filename, `policies: [{ id: default, apps: [{ name: Files, url: "${receiver.url}/files", query: { caller: "{{ event.calling_number }}" }, timeout: 2s, retry_count: 0 }] }]`);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.stop();
    await receiver?.stop();
  });

  const open = async (path = '/') => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems = watchPage(page);
    await page.goto(h.baseUrl + path);
    return { page, problems };
  };

  it('a right-to-left override moves nothing out of its own value, and the JSON view shows it as \\u202e', async () => {
    const events = [
      { call_id: 'bidi1', calling_number: `${RLO}0001`, called_number: '5550100' },
      { call_id: 'bidi2', calling_number: `+1 555 0100 ${RLO}`, called_number: '1000' },
    ];
    expect((await h.post(events)).status).toBe(202);
    for (const event of events) await h.waitForCall(event.call_id);

    const { page, problems } = await open('/');
    const fromTo = (id: string) => page.getByRole('row').filter({ has: page.getByRole('link', { name: id, exact: true }) }).getByRole('cell').nth(3);
    await fromTo('bidi2').waitFor();
    // Unisolated, the first read "0010555 → 1000" and the second "+1 555 0100 0001 →": the called
    // number reversed onto the calling side. The override reverses its own value only.
    expect(await drawnText(fromTo('bidi1'))).toBe('1000 → 5550100');
    expect(await drawnText(fromTo('bidi2'))).toBe('+1 555 0100  → 1000'); // the value's own space, then " → "
    await screenshot(page, 'calls-bidi');

    await page.getByRole('link', { name: 'bidi1', exact: true }).click();
    await page.getByRole('heading', { name: /Call bidi1/ }).waitFor();
    expect(await drawnText(page.locator('dl.facts dd').nth(1))).toBe('1000 → 5550100');
    for (const summary of await page.locator('details.json summary').all()) await summary.click();
    const event = page.locator('details.json pre').first();
    const data = page.getByRole('article', { name: 'App files' }).locator('details.json pre');
    expect(await event.textContent()).toContain('"calling_number": "\\u202e0001"');
    expect(await data.textContent()).toContain('"attachment": "invoice\\u202egnp.exe"');
    // Drawn as written: no character of the JSON moved, and the escape still parses to the value.
    for (const pre of [event, data]) expect(await drawnText(pre)).toBe(await pre.textContent());
    expect(JSON.parse((await data.textContent()) ?? '')).toEqual({ attachment: `invoice${RLO}gnp.exe` });
    await screenshot(page, 'call-bidi');
    expect(problems).toEqual([]);
  });

  it('the list refreshing every 5 s keeps the filters being typed; the address, when it changes, sets them', async () => {
    const { page, problems } = await open('/');
    await page.getByRole('table').waitFor();
    const number = page.getByLabel('Number', { exact: true });
    const failed = page.getByRole('checkbox', { name: 'failed', exact: true });
    const since = page.getByLabel(/^Changed/);
    await number.fill('5550100');
    await failed.check();
    await since.selectOption('1h');
    // A call that arrives meanwhile: once it is listed, the list has refreshed under the form.
    const arrived = makeEvent({ call_id: 'arrives-while-typing' });
    await h.post([arrived]);
    await page.getByRole('link', { name: arrived.call_id, exact: true }).waitFor({ timeout: 15_000 });
    await expect(number.inputValue()).resolves.toBe('5550100');
    await expect(failed.isChecked()).resolves.toBe(true);
    await expect(since.inputValue()).resolves.toBe('1h');
    await screenshot(page, 'calls-filter-draft');

    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/number=5550100/);
    expect(new URL(page.url().replace('#/calls?', '?')).searchParams.toString()).toBe('status=failed&number=5550100&since=1h');
    await expect(number.inputValue()).resolves.toBe('5550100');
    // Another address (the Calls link: no filters) shows its own filters, not the draft.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Calls' }).click();
    await page.waitForURL(/#\/calls$/);
    // The form is set from the new address once the screen has re-rendered for it.
    await page.waitForFunction("document.querySelector('input[name=number]').value === ''", undefined, { timeout: 5000 });
    await expect(failed.isChecked()).resolves.toBe(false);
    await expect(since.inputValue()).resolves.toBe('');
    expect(problems).toEqual([]);
  });

  it('a 200-character call id and a 256-digit number wrap: each screen keeps to its window', async () => {
    const event = makeEvent({ call_id: `long-${'x'.repeat(195)}`, calling_number: '5'.repeat(256), called_number: '1000' });
    expect((await h.post([event])).status).toBe(202);
    await h.waitForCall(event.call_id);
    const width = async (page: Page) => (await page.evaluate('[document.documentElement.scrollWidth, innerWidth]')) as [number, number];
    const right = async (locator: Locator) => {
      const box = await locator.boundingBox();
      return box!.x + box!.width;
    };

    const { page, problems } = await open('/');
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: event.call_id, exact: true }) });
    await row.waitFor();
    // Unwrapped, the page was about 5,000 px wide and the Apps column off screen.
    const [listWidth, innerWidth] = await width(page);
    expect(listWidth).toBeLessThanOrEqual(innerWidth);
    expect(await right(row.getByRole('cell').last())).toBeLessThanOrEqual(innerWidth);
    await screenshot(page, 'calls-long');

    await row.getByRole('link').click();
    await page.getByRole('heading', { name: /Call long-/ }).waitFor();
    await page.getByRole('article', { name: 'App files' }).locator('details.request summary').click();
    const key = page.getByRole('row', { name: /Idempotency-Key/ });
    await expect(key.textContent()).resolves.toContain(`${event.call_id}.files`);
    expect((await width(page))[0]).toBeLessThanOrEqual(innerWidth);
    expect(await right(key.getByRole('cell'))).toBeLessThanOrEqual(innerWidth);
    await screenshot(page, 'call-long');

    await page.goto(`${h.baseUrl}/#/call-test`);
    await page.getByLabel('Calling number').fill(event.calling_number);
    await page.getByLabel('Called number').fill('1000');
    await page.getByRole('button', { name: 'Run Test' }).click();
    await page.getByRole('complementary', { name: 'Raw JSON' }).waitFor();
    expect((await width(page))[0]).toBeLessThanOrEqual(innerWidth);
    await screenshot(page, 'call-test-long');
    expect(problems).toEqual([]);
  });
});
