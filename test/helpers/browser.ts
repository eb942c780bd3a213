import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

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
