import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** callhook's own package.json, found by walking up (works from src/ and dist/). */
function findPackage(): { root: string; version: string } {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'callhook' && pkg.version) return { root: dir, version: pkg.version };
  }
  return { root: process.cwd(), version: '0.0.0' };
}

const found = findPackage();

/** The directory holding callhook's package.json (and dist/). */
export function packageRoot(): string {
  return found.root;
}

export const VERSION = found.version;
export const USER_AGENT = `callhook/${VERSION}`;
