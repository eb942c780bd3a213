import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/policies/load';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { exited, spawnCli } from '../helpers/processes';
import { CountingProxy } from '../helpers/proxy';
import { Receiver } from '../helpers/receiver';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';
import { makeCertificates, type TestCertificates } from '../helpers/tls';

describe('egress: a private CA and mutual TLS per app', () => {
  let certs: TestCertificates;
  let mtls: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    certs = makeCertificates();
    // Demands a client certificate signed by the same private CA.
    mtls = await new Receiver(undefined, {
      key: certs.read(certs.serverKeyFile),
      cert: certs.read(certs.serverCertFile),
      ca: certs.read(certs.caFile),
      requestCert: true,
      rejectUnauthorized: true,
    }).start();
    const app = (name: string, tls: string) => `      - { name: ${name}, method: POST, url: "${mtls.url}/${name.toLowerCase()}", retry_count: 0${tls ? `, tls: ${tls}` : ''} }`;
    h = await startHarness(__filename, `
policies:
  - id: mtls
    apps:
${app('Trusted', `{ ca_file: "${certs.caFile}", cert_file: "${certs.clientCertFile}", key_file: "${certs.clientKeyFile}" }`)}
  - id: untrusted
    apps:
${app('Public', '')}
  - id: anonymous
    apps:
${app('Anonymous', `{ ca_file: "${certs.caFile}" }`)}
`);
  });
  afterAll(async () => {
    await h.stop();
    await mtls.stop();
  });

  const run = async (policy: string) => {
    const posted = await h.post(makeEvent({ policy }));
    return h.waitForCall(posted.body.calls[0]!.call_id);
  };

  it('an app with the CA and a client certificate gets through; without them the handshake fails', async () => {
    expect((await run('mtls')).app_data.trusted).toMatchObject({ status: 'success', http_status: 200 });
    expect(mtls.to('/trusted')).toHaveLength(1);
    // Without the CA: the server certificate is not trusted.
    expect((await run('untrusted')).app_data.public).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_HTTP_NETWORK' } });
    // With the CA but no client certificate: the server refuses the handshake.
    expect((await run('anonymous')).app_data.anonymous).toMatchObject({ status: 'failed' });
    expect(mtls.to('/public')).toHaveLength(0);
    expect(mtls.to('/anonymous')).toHaveLength(0);
  });

  it('reads the files at load and names the field when one is missing or is not what it should be', () => {
    const notPem = join(certs.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    let problems: string[] = [];
    try {
      parseConfig(`
policies:
  - id: p
    apps:
      - { name: A, url: "https://h.example/", tls: { ca_file: "${join(certs.dir, 'missing.crt')}" } }
      - { name: B, url: "https://h.example/", tls: { ca_file: "${notPem}", cert_file: "${certs.clientCertFile}" } }
      - { name: C, url: "https://h.example/", tls: { key_file: "${certs.caFile}", cert_file: "${certs.clientCertFile}" } }
`);
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^policies\[0\]\.apps\[0\]\.tls\.ca_file: cannot read .*missing\.crt \(ENOENT\)$/),
      'policies[0].apps[1].tls.key_file: a client certificate needs both cert_file and key_file',
      expect.stringMatching(/^policies\[0\]\.apps\[1\]\.tls\.ca_file: .*not\.pem is not a PEM certificate/),
      expect.stringMatching(/^policies\[0\]\.apps\[2\]\.tls\.key_file: .*ca\.crt is not a PEM private key/),
    ]);
  });
});

describe('egress: HTTPS_PROXY, HTTP_PROXY and NO_PROXY, in a callhook process of its own', () => {
  it('sends plain HTTP through the proxy, HTTPS through a CONNECT tunnel (TLS end to end), and NO_PROXY hosts direct', async () => {
    const certs = makeCertificates();
    const proxy = await new CountingProxy().start();
    const plain = await new Receiver().start();
    const secure = await new Receiver(undefined, { key: certs.read(certs.serverKeyFile), cert: certs.read(certs.serverCertFile) }).start();
    const direct = await new Receiver().start();
    const directUrl = direct.url.replace('127.0.0.1', 'localhost');
    const config = join(certs.dir, 'policies.yaml');
    writeFileSync(config, `
policies:
  - id: p
    apps:
      - { name: Plain, method: POST, url: "${plain.url}/plain", retry_count: 0 }
      - { name: Secure, method: POST, url: "${secure.url}/secure", retry_count: 0, tls: { ca_file: "${certs.caFile}" } }
      - { name: Direct, method: POST, url: "${directUrl}/direct", retry_count: 0 }
`);
    const port = await freePort();
    const prefix = uniquePrefix(__filename);
    const child = spawnCli(['start'], {
      REDIS_URL: redisUrl(),
      CALLHOOK_PREFIX: prefix,
      CALLHOOK_PORT: String(port),
      CALLHOOK_CONFIG: config,
      HTTP_PROXY: proxy.url,
      HTTPS_PROXY: proxy.url,
      // axios counts every loopback name as one host: the port tells the direct receiver apart.
      NO_PROXY: `localhost:${new URL(direct.url).port}`,
    });
    try {
      for (let i = 0; i < 100; i++) {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const posted = await fetch(`http://127.0.0.1:${port}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(makeEvent({ policy: 'p' })) });
      expect(posted.status).toBe(202);
      await Promise.all([plain.waitFor(1, '/plain'), secure.waitFor(1, '/secure'), direct.waitFor(1, '/direct')]);
      expect(proxy.forwarded).toEqual([`${plain.url}/plain`]);
      expect(proxy.tunnels).toEqual([secure.url.replace('https://', '')]);
      expect(child.output()).not.toMatch(/error/i);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
      const redis = connectRedis();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      await Promise.all([proxy.stop(), plain.stop(), secure.stop(), direct.stop()]);
    }
  });
});
