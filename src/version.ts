import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** callhook's version from package.json, found by walking up (works from src/ and dist/). */
function readVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'callhook' && pkg.version) return pkg.version;
  }
  return '0.0.0';
}

export const VERSION = readVersion();
export const USER_AGENT = `callhook/${VERSION}`;
