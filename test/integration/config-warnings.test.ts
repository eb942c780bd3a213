import { createLogger } from '../../src/logger';
import { startHarness } from '../helpers/harness';

/**
 * A policies file that loads but cannot work as meant (a misspelt match field, a policy no call
 * reaches) is said at start, once, as `config check` says it: else calls end `unmatched` silently.
 */
describe('policies warnings at start', () => {
  it('are logged once as warnings, with their path, by a process running API and worker', async () => {
    const logLines: string[] = [];
    const h = await startHarness(__filename, `
policies:
  - { id: sales, match: { caled_number: "^1[0-9]{3}$" }, apps: [] }
  - { id: named, apps: [] }
`, { logger: createLogger({ level: 'warn', destination: { write: (line: string) => void logLines.push(line) } }) });
    try {
      const warnings = logLines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.msg.startsWith('policies file: '));
      expect(warnings).toEqual([
        expect.objectContaining({ level: 40, msg: expect.stringMatching(/^policies file: test:3: policies\[0\]\.match\.caled_number: events have no standard field "caled_number" \(did you mean called_number\?\)/) }),
        expect.objectContaining({ level: 40, msg: expect.stringMatching(/^policies file: test:4: policies\[1\]: has no `match` and is not `default`, so it runs only for events that name it/) }),
      ]);
    } finally {
      await h.stop();
    }
  });
});
