import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness } from '../helpers/harness';
import { startOAuthServer } from '../helpers/oauth-server';
import { exited, spawnCli } from '../helpers/processes';
import { Receiver } from '../helpers/receiver';

const SECRETS = { bearer: 'bearer-token-7f3a9c', password: 'basic-pass-52be1d', clientSecret: 'oauth-client-secret-value', apiKey: 'query-key-9d8e7f' };

describe('Call Test', () => {
  let receiver: Receiver;
  let oauth: Awaited<ReturnType<typeof startOAuthServer>>;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let configPath: string;
  let badConfigPath: string;
  const env = { CRM_TOKEN: SECRETS.bearer, LEGACY_PASSWORD: SECRETS.password, OAUTH_SECRET: SECRETS.clientSecret, API_KEY: SECRETS.apiKey };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    oauth = await startOAuthServer({ clientSecret: SECRETS.clientSecret });
    // A careless receiver that echoes what it got, credentials included.
    receiver.on('/echo', (req) => ({ status: 200, body: { headers: req.headers, url: req.url } }));
    receiver.on('/crm', () => ({ status: 200, body: { name: 'John Doe', vip: true } }));
    receiver.on('/down', () => ({ status: 500 }));
    const yaml = `
policies:
  - id: sales
    apps:
      - { name: CRM, phase: real_time, order: 10, url: "${receiver.url}/crm", auth: { type: bearer, token: "\${CRM_TOKEN}" } }
      - name: Legacy
        order: 20
        method: POST
        url: "${receiver.url}/echo"
        auth: { type: basic, username: ops, password: "\${LEGACY_PASSWORD}" }
        query: { key: "\${API_KEY}" }
        body: { caller: "{{ event.calling_number }}", ip: "{{ app_data.phone-discovery.data.phone.ip }}", name: "{{ app_data.crm.data.name }}" }
      - { name: Modern, order: 30, url: "${receiver.url}/echo", auth: { type: oauth2, token_url: "${oauth.tokenUrl}", client_id: callhook-client, client_secret: "\${OAUTH_SECRET}" } }
  - id: broken
    apps:
      - { name: Down, url: "${receiver.url}/down", retry_count: 1, retry_delay: 10ms, timeout: 2s }
`;
    const dir = mkdtempSync(join(tmpdir(), 'callhook-calltest-'));
    configPath = join(dir, 'policies.yaml');
    writeFileSync(configPath, yaml);
    badConfigPath = join(dir, 'bad.yaml');
    writeFileSync(badConfigPath, 'policies:\n  - id: sales\n    apps:\n      - { name: A, url: "ftp://x" }\n');
    h = await startHarness(__filename, yaml, { env, worker: false });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
    await oauth.stop();
  });

  it('answers every app request and result, with no secret anywhere in the output', async () => {
    const answer = await h.request('POST', '/v1/call-test', { policy: 'sales', calling_number: '+1 (555) 123-4567', called_number: '1000' });
    expect(answer.status).toBe(200);
    const report = answer.body;
    expect(report).toMatchObject({ policy: 'sales', phase: 'all', ok: true });
    expect(report.apps.map((a: { slug: string }) => a.slug)).toEqual(['crm', 'legacy', 'modern']);
    const legacy = report.apps[1];
    expect(legacy.request).toMatchObject({ method: 'POST', url: `${receiver.url}/echo?key=[REDACTED]`, headers: { Authorization: '[REDACTED]', 'Idempotency-Key': `${report.call_id}.legacy` } });
    expect(legacy.request.body).toEqual({ caller: '+1 (555) 123-4567', ip: '', name: 'John Doe' });
    expect(legacy.response).toEqual({ http_status: 200, duration_ms: expect.any(Number) });
    expect(legacy.unresolved).toEqual([{ path: 'app_data.phone-discovery.data.phone.ip', hint: expect.stringContaining('no app `phone-discovery` ran before this app') }]);

    const text = JSON.stringify(report);
    const issued = oauth.issuedTokens();
    expect(issued.length).toBeGreaterThan(0);
    for (const secret of [...Object.values(SECRETS), ...issued, Buffer.from(`ops:${SECRETS.password}`).toString('base64')]) {
      expect(text).not.toContain(secret);
    }
    // The receiver did get the real credentials.
    expect(receiver.to('/echo')[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`ops:${SECRETS.password}`).toString('base64')}`);
  });

  it('runs one phase when asked, and refuses an unknown policy or a bad event', async () => {
    const realtime = await h.request('POST', '/v1/call-test', { policy: 'sales', calling_number: '1', called_number: '2', phase: 'real_time' });
    expect(realtime.body.apps.map((a: { slug: string }) => a.slug)).toEqual(['crm']);
    // Legacy reads the real-time CRM app's result: with phase post_call the phase left it out, not the order.
    const postCall = await h.request('POST', '/v1/call-test', { policy: 'sales', calling_number: '1', called_number: '2', phase: 'post_call' });
    expect(postCall.body.apps.map((a: { slug: string }) => a.slug)).toEqual(['legacy', 'modern']);
    expect(postCall.body.apps[0].unresolved).toContainEqual({ path: 'app_data.crm.data.name', hint: 'app `crm` did not run: phase `post_call` leaves out real-time apps, which run before this one; test with phase `all`' });
    expect(await h.request('POST', '/v1/call-test', { policy: 'nope', calling_number: '1', called_number: '2' })).toMatchObject({ status: 404, body: { error: { code: 'CALLHOOK_POLICY_NOT_FOUND' } } });
    expect(await h.request('POST', '/v1/call-test', { policy: 'sales', calling_number: '1' })).toMatchObject({ status: 400, body: { error: { problems: ['called_number: is required'] } } });
  });

  it('names each problem with the policy once: missing, empty or of the wrong type', async () => {
    const problems = async (body: Record<string, unknown>) => {
      const answer = await h.request('POST', '/v1/call-test', { calling_number: '1', called_number: '2', ...body });
      expect([answer.status, answer.body.error.code]).toEqual([400, 'CALLHOOK_EVENT_INVALID']);
      return answer.body.error.problems as string[];
    };
    expect(await problems({})).toEqual(['policy: is required']);
    expect(await problems({ policy: '' })).toEqual(['policy: must not be empty']);
    expect(await problems({ policy: 5 })).toEqual(['policy: expected a string, got a number']);
    expect(await problems({ policy: 'sales', calling_number: 5551234, app_data: [] })).toEqual(['calling_number: expected a string, got a number', 'app_data: expected an object, got an array']);
  });

  it('refuses a query it does not know before anything is sent', async () => {
    const sentBefore = receiver.requests.length;
    const body = { policy: 'sales', calling_number: '1', called_number: '2' };
    const refused = async (query: string) => {
      const answer = await h.request('POST', `/v1/call-test?${query}`, body);
      expect([query, answer.status, answer.body.error.code]).toEqual([query, 400, 'CALLHOOK_BAD_REQUEST']);
      return answer.body.error.problems as string[];
    };
    for (const query of ['format=xml', 'format=TEXT', 'format=', 'format=text&format=text']) expect(await refused(query)).toEqual(['format: use text, or leave it out for JSON']);
    expect(await refused('foo=1')).toEqual(['(root): unknown parameter foo']);
    expect(receiver.requests.length).toBe(sentBefore);
    const text = await fetch(`${h.baseUrl}/v1/call-test?format=text`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect([text.status, text.headers.get('content-type')]).toEqual([200, 'text/plain; charset=utf-8']);
  });

  describe('npx callhook call-test (a real subprocess)', () => {
    const run = async (args: string[]) => {
      const child = spawnCli(['call-test', '--config', configPath, ...args], env);
      const code = await exited(child);
      return { code, output: child.output() };
    };

    it('prints each app in order and exits 0', async () => {
      const { code, output } = await run(['--policy', 'sales', '--calling', '+1 (555) 123-4567', '--called', '1000', '--field', 'calling_name=O\'Brien & Sons']);
      expect(code).toBe(0);
      expect(output).toMatch(/1\. CRM \(crm\) · real_time · order 10\n {3}GET http:\/\/127\.0\.0\.1:\d+\/crm\n/);
      expect(output).toContain('2. Legacy (legacy) · post_call · order 20');
      expect(output).toContain('Authorization: [REDACTED]');
      expect(output).toContain('→ HTTP 200 · SUCCESS');
      expect(output).toContain('unresolved: {{ app_data.phone-discovery.data.phone.ip }} — no app `phone-discovery` ran before this app');
      expect(output).toContain('OK: 3 app(s), none failed');
      for (const secret of Object.values(SECRETS)) expect(output).not.toContain(secret);
    });

    it('with --phase post_call, says the phase left a real-time app out (not its order)', async () => {
      const { code, output } = await run(['--policy', 'sales', '--calling', '1', '--called', '2', '--phase', 'post_call']);
      expect(code).toBe(0);
      expect(output).toContain('unresolved: {{ app_data.crm.data.name }} — app `crm` did not run: phase `post_call` leaves out real-time apps, which run before this one; test with phase `all`');
      expect(output).not.toContain('no app `crm` ran before this app');
    });

    it('prints raw JSON with --json and exits 1 when an app failed', async () => {
      const { code, output } = await run(['--policy', 'broken', '--calling', '1', '--called', '2', '--json']);
      expect(code).toBe(1);
      const report = JSON.parse(output);
      expect(report.apps[0].result).toMatchObject({ status: 'failed', http_status: 500, attempts: 2 });
    });

    it('names a --field of the wrong type as such, not as missing', async () => {
      const { code, output } = await run(['--policy', 'sales', '--calling', '1', '--called', '2', '--field', 'app_data=x']);
      expect(code).toBe(2);
      expect(output).toContain('app_data: expected an object, got a string');
      expect(output).not.toContain('is required');
    });

    it('exits 2 with a clear message for an unknown policy', async () => {
      const { code, output } = await run(['--policy', 'nope', '--calling', '1', '--called', '2']);
      expect(code).toBe(2);
      expect(output).toContain('callhook: policy: no policy "nope" (policies: sales, broken)');
    });

    it('exits 2 for a usage error too (a missing option): 1 means an app failed', async () => {
      const { code, output } = await run(['--policy', 'sales', '--calling', '1']);
      expect(code).toBe(2);
      expect(output).toContain("required option '--called <number>' not specified");
    });

    it('exits 2, not 1 ("an app failed"), when its policies file or a setting cannot be loaded', async () => {
      const args = ['--policy', 'sales', '--calling', '1', '--called', '2'];
      const cases: [string, string[], Record<string, string>, string][] = [
        ['a missing file', ['--config', `${configPath}.missing`], env, `callhook: ${configPath}.missing: cannot read the policies file (ENOENT)`],
        ['a bad file', ['--config', badConfigPath], env, `callhook: ${badConfigPath}:4: policies[0].apps[0].url: must start with http:// or https://`],
        ['a bad setting', ['--config', configPath], { ...env, CALLHOOK_PORT: 'abc' }, 'callhook: CALLHOOK_PORT=abc: '],
      ];
      for (const [what, config, childEnv, message] of cases) {
        const child = spawnCli(['call-test', ...config, ...args], childEnv);
        const code = await exited(child);
        expect([what, code]).toEqual([what, 2]);
        expect(child.output()).toMatch(message); // a string: contained as it is
      }
    });
  });
});
