import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

/** Where the browser tests write their screenshots. */
export const SCREENS_DIR = join(__dirname, '../../test-output/screens');

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it when missing). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  mkdirSync(SCREENS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    // No network here: keep Chromium from reaching for Google's services at every start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Everything that went wrong on a page: console errors, failed requests, and HTTP errors the test did not expect. */
export function watchPage(page: Page, expectedStatuses: (status: number, url: string) => boolean = () => false) {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of (401|409)/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && !expectedStatuses(response.status(), response.url())) problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  return problems;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(SCREENS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * The text of `locator` in the order it is drawn: every visible character (bidi controls and
 * line breaks take no width), line by line, left to right by its place on screen. What the
 * user reads, where textContent is the logical order.
 */
export async function drawnText(locator: Locator): Promise<string> {
  return locator.evaluate((el: any) => {
    const doc = el.ownerDocument;
    const glyphs: { mid: number; height: number; left: number; char: string }[] = [];
    const walker = doc.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        const range = doc.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const box = range.getBoundingClientRect();
        if (box.width > 0) glyphs.push({ mid: box.top + box.height / 2, height: box.height, left: box.left, char: node.data[i] });
      }
    }
    // Lines: glyphs whose vertical middles are within half a glyph of the line's first (fallback fonts differ in height).
    glyphs.sort((a, b) => a.mid - b.mid);
    const lines: (typeof glyphs)[] = [];
    for (const glyph of glyphs) {
      const line = lines[lines.length - 1];
      if (line && Math.abs(glyph.mid - line[0]!.mid) < line[0]!.height / 2) line.push(glyph);
      else lines.push([glyph]);
    }
    return lines.map((line) => line.sort((a, b) => a.left - b.left).map((g) => g.char).join('')).join('\n');
  });
}
