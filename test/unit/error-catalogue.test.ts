import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CATALOGUE } from '../../src/errors';

/** The README's error table, row by row: code, where, meaning. */
function readmeErrorTable(): [string, string, string][] {
  const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Error codes'));
  const table = section.slice(0, section.indexOf('\n## ', 3));
  return table
    .split('\n')
    .filter((line) => line.startsWith('| `CALLHOOK_'))
    .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| |\s*\|$/g, '').trim()) as [string, string, string])
    .map(([code, where, meaning]) => [code.replace(/`/g, ''), where, meaning]);
}

describe('error catalogue', () => {
  it('the README lists every code with the catalogue\'s own words, in its order', () => {
    const expected = Object.entries(ERROR_CATALOGUE).map(([code, entry]) => [code, entry.where, entry.meaning]);
    expect(readmeErrorTable()).toEqual(expected);
  });

  it('every API code has a status that matches where it shows up', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      if (entry.status === null) expect([code, entry.where]).not.toEqual([code, expect.stringMatching(/^API/)]);
      else expect([code, entry.where]).toEqual([code, expect.stringContaining(`API ${entry.status}`)]);
    }
  });
});
