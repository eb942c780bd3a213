import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { exited, spawnCli } from '../helpers/processes';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

const dir = mkdtempSync(join(tmpdir(), 'callhook-cli-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('npx callhook config check', () => {
  it('accepts the example policies file', async () => {
    const child = spawnCli(['config', 'check', 'config/policies.yaml'], {});
    expect(await exited(child)).toBe(0);
    expect(child.output()).toMatch(/config\/policies\.yaml: OK \(2 policies, 3 apps\)/);
  });

  it('exits 1 with one line per problem, each naming its path', async () => {
    const bad = file('bad.yaml', `
policies:
  - id: p
    apps:
      - { name: A, url: "ftp://x", timeout: soon }
      - { name: B, url: "https://h.example/", auth: { type: bearer, token: "\${NOT_SET_ANYWHERE}" } }
      - { name: C, url: "ftp://x.example/c" }
`);
    const child = spawnCli(['config', 'check', '--config', bad], {});
    expect(await exited(child)).toBe(1);
    const lines = child.output().trim().split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      `callhook: ${bad}:6: policies[0].apps[1].auth.token: environment variable NOT_SET_ANYWHERE is not set`,
      expect.stringMatching(/^callhook: .*bad\.yaml:5: policies\[0\]\.apps\[0\]\.timeout: /),
      // A compile-pass problem, shown with the schema's, not after they are fixed.
      `callhook: ${bad}:7: policies[0].apps[2].url: must start with http:// or https://`,
    ]));
  });

  it('checks the file and the variables it names, not the unrelated settings', async () => {
    const good = file('good.yaml', 'policies: [{ id: default, apps: [{ name: A, url: "https://h.example/${HOOK_PATH}" }] }]\n');
    // Settings the processes refuse at start; none of them is the file's problem.
    const settings = { CALLHOOK_CONCURRENCY: '0', CALLHOOK_PORT: 'abc', LOG_LEVEL: 'verbose', HOOK_PATH: 'services/T0001' };
    for (const args of [['config', 'check', good], ['config', 'check']]) {
      const child = spawnCli(args, { ...settings, CALLHOOK_CONFIG: good });
      expect([args, await exited(child)]).toEqual([args, 0]);
      expect(child.output()).toBe(`${good}: OK (1 policies, 1 apps)\n`);
    }
    const { HOOK_PATH: _unset, ...withoutVariable } = settings;
    const child = spawnCli(['config', 'check', good], withoutVariable);
    expect(await exited(child)).toBe(1);
    expect(child.output()).toBe(`callhook: ${good}:1: policies[0].apps[0].url: environment variable HOOK_PATH is not set\n`);
  });

  it('says a variable is not set, and nothing more of its field', async () => {
    const secrets = file('secrets.yaml', `
policies:
  - id: p
    apps:
      - { name: A, url: "https://h.example/a", auth: { type: bearer, token: "\${CT_TOKEN_UNSET}" } }
      - { name: B, url: "https://h.example/b", signing: { secret: "\${CT_SIGNING_UNSET}" } }
`);
    const child = spawnCli(['config', 'check', secrets], {});
    expect(await exited(child)).toBe(1);
    expect(child.output()).toBe([
      `callhook: ${secrets}:5: policies[0].apps[0].auth.token: environment variable CT_TOKEN_UNSET is not set`,
      `callhook: ${secrets}:6: policies[0].apps[1].signing.secret: environment variable CT_SIGNING_UNSET is not set`,
      '',
    ].join('\n'));
  });

  it('prints what loads but cannot work as meant as warnings, and exits 0', async () => {
    const path = file('warned.yaml', `
policies:
  - id: sales
    match: { caled_number: "^1[0-9]{3}$" }
    apps: [{ name: A, url: "https://h.example/{{ event.caling_number }}" }]
`);
    const child = spawnCli(['config', 'check', path], {});
    expect(await exited(child)).toBe(0);
    expect(child.output().split('\n').sort()).toEqual([
      '',
      `${path}: OK (1 policies, 1 apps, 2 warnings)`,
      `callhook: warning: ${path}:4: policies[0].match.caled_number: events have no standard field "caled_number" (did you mean called_number?), so this policy matches only events that carry it`,
      `callhook: warning: ${path}:5: policies[0].apps[0].url: event.caling_number is not a standard event field (did you mean event.calling_number?); it renders empty unless events carry it`,
    ]);
  });

  it('names a missing file', async () => {
    const child = spawnCli(['config', 'check', join(dir, 'nope.yaml')], {});
    expect(await exited(child)).toBe(1);
    expect(child.output()).toMatch(/nope\.yaml: cannot read the policies file \(ENOENT\)/);
  });
});

describe('npx callhook start', () => {
  it('serves the API and runs calls with the worker in one process, and stops on SIGTERM', async () => {
    const receiver = await new Receiver().start();
    const prefix = uniquePrefix(__filename);
    const config = file('start.yaml', `policies: [{ id: default, apps: [{ name: Hook, url: "${receiver.url}/hook" }] }]`);
    const child = spawnCli(['start'], { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: prefix, CALLHOOK_CONFIG: config, CALLHOOK_PORT: '0', LOG_LEVEL: 'info' });
    try {
      let url = '';
      for (let i = 0; i < 200 && !url; i++) {
        url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(child.output())?.[1] ?? '';
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(url).not.toBe('');
      const event = makeEvent();
      const posted = await fetch(`${url}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
      expect(posted.status).toBe(202);
      let status = '';
      for (let i = 0; i < 200 && status !== 'completed'; i++) {
        status = ((await (await fetch(`${url}/v1/calls/${event.call_id}`)).json()) as { status: string }).status;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(status).toBe('completed');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await receiver.stop();
      const redis = connectRedis();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });

  it('refuses a non-loopback host without an API token', async () => {
    const child = spawnCli(['api'], { REDIS_URL: redisUrl(), CALLHOOK_HOST: '0.0.0.0', CALLHOOK_PORT: '0' });
    expect(await exited(child)).toBe(1);
    expect(child.output()).toMatch(/set CALLHOOK_API_TOKEN/);
  });

  it('names LOG_LEVEL when it is not a pino level, with the other bad settings', async () => {
    const child = spawnCli(['start'], { REDIS_URL: redisUrl(), LOG_LEVEL: 'verbose', CALLHOOK_PORT: 'abc' });
    expect(await exited(child)).toBe(1);
    const lines = child.output().trim().split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'callhook: LOG_LEVEL=verbose: expected one of fatal, error, warn, info, debug, trace, silent',
      expect.stringMatching(/^callhook: CALLHOOK_PORT=abc: /),
    ]));
  });

  it.each([
    ['a short token', 'Xk29fmQ1', /is 8 characters: .* at least 32/],
    ['the old compose default', 'change-me', /is 9 characters/],
    ['a long placeholder', 'change-me-change-me-change-me-change-me', /looks like a placeholder/],
    ['a repeated character', 'x'.repeat(40), /looks like a placeholder/],
  ])('refuses a non-loopback host with %s as the token', async (_what, token, message) => {
    const child = spawnCli(['api'], { REDIS_URL: redisUrl(), CALLHOOK_HOST: '0.0.0.0', CALLHOOK_PORT: '0', CALLHOOK_API_TOKEN: token });
    expect(await exited(child)).toBe(1);
    expect(child.output()).toMatch(message);
    expect(child.output()).toMatch(/openssl rand -hex 32/);
  });
});

describe('the commands that only read results need no policies file', () => {
  const token = 'crm-token-5e4d3c2b1a';
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let callId: string;
  const empty = mkdtempSync(join(tmpdir(), 'callhook-no-policies-'));
  const withSecret = file('with-secret.yaml', 'policies: [{ id: crm, apps: [{ name: CRM, url: "http://127.0.0.1:1/", auth: { type: bearer, token: "${CRM_TOKEN}" } }] }]');

  beforeAll(async () => {
    // The receiver echoes the token it got: the worker stores the result redacted.
    receiver = await new Receiver().start();
    receiver.on('/crm', (request) => ({ status: 200, body: { seen: request.headers.authorization } }));
    h = await startHarness(__filename, `policies: [{ id: crm, apps: [{ name: CRM, url: "${receiver.url}/crm", auth: { type: bearer, token: "\${CRM_TOKEN}" } }] }]`, { env: { CRM_TOKEN: token } });
    const event = makeEvent({ policy: 'crm' });
    await h.post(event);
    callId = (await h.waitForCall(event.call_id)).call_id;
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  const run = async (args: string[], env: Record<string, string>) => {
    // Neither the workers' CRM_TOKEN nor a config/policies.yaml where it runs.
    const child = spawnCli(args, { REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, CALLHOOK_CONFIG: '', ...env }, empty);
    return { code: await exited(child), output: child.output() };
  };

  it.each([
    ['calls', ['calls', '--json']],
    ['results', ['results']],
    ['export', ['export', '--since', '1h']],
  ])('%s runs without the file and prints the call as the API shows it, its secret redacted', async (_name, args) => {
    const api = (await h.request('GET', `/v1/calls/${callId}`)).body;
    expect(api.app_data.crm.data).toEqual({ seen: 'Bearer [REDACTED]' });
    const { code, output } = await run(args, {});
    expect([code, output]).toEqual([0, expect.stringContaining(callId)]);
    expect(output).not.toContain(token);
    expect(output).not.toMatch(/policies/);
    if (args[0] === 'results') expect(JSON.parse(output).call).toEqual(api);
  });

  it('with a policies file whose variable is not set, reads all the same and says it goes on without the file', async () => {
    const { code, output } = await run(['calls'], { CALLHOOK_CONFIG: withSecret });
    expect(code).toBe(0);
    expect(output).toContain(callId);
    expect(output).toMatch(/^callhook: \S+with-secret\.yaml:\d+: policies\[0\]\.apps\[0\]\.auth\.token: environment variable CRM_TOKEN is not set: going on without the policies file/m);
  });

  it('replay, which re-runs apps of the policies, still needs the file', async () => {
    const { code, output } = await run(['replay', callId], {});
    expect(code).toBe(1);
    expect(output).toMatch(/config\/policies\.yaml: cannot read the policies file \(ENOENT\)/);
  });
});
