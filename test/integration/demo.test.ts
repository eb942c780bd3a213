import { tmpdir } from 'node:os';
import { exited, spawnCli } from '../helpers/processes';
import { redisUrl } from '../helpers/redis';

describe('npm run demo', () => {
  it('runs the tour on loopback, prints each call\'s results and exits 0', async () => {
    // From any directory, as from an installed package: the demo brings its own policies.
    const child = spawnCli(['demo'], { REDIS_URL: redisUrl() }, tmpdir());
    expect(await exited(child)).toBe(0);
    const output = child.output();
    expect(output).toMatch(/Real-time .* caller ID "John Doe"/);
    expect(output).toMatch(/demo-call-1 +\+15551234567 → 1001 +sales +completed +caller-id +success +200 +1 +John Doe/);
    expect(output).toMatch(/chat-alert +success +200 +2 /);
    expect(output).toMatch(/demo-call-3 .* failed +crm-lookup +failed +404/);
    expect(output).toMatch(/demo-call-4 .* default +completed +analytics +success +202/);
  });
});
