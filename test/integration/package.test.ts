import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHarness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { redisUrl } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

/**
 * The package as an integrator gets it: `npm pack`, installed into a fresh project from the
 * tarball (offline: dependencies from the npm cache, pinned by a lockfile made from callhook's
 * own), a TypeScript producer compiled against its type declarations with tsc, then run against
 * a live callhook: its calls, sent through the HTTP client and through the in-process producer,
 * reach the receiver.
 */
const ROOT = resolve(__dirname, '../..');
const FIXTURE = join(__dirname, '../fixtures/package-consumer/producer.ts');
const CLIENT_ONLY = join(__dirname, '../fixtures/package-consumer/client-only.ts');
const TOKEN = 'package-test-token-0123456789abcdef012345';

type LockEntry = { version?: string; resolved?: string; integrity?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>; dev?: boolean; devOptional?: boolean; optional?: boolean; [key: string]: unknown };

/**
 * A lockfile for the consumer project: the tarball, plus callhook's production dependencies
 * and TypeScript as callhook's own lockfile pins them (so `npm ci --offline` needs only
 * tarballs already in the npm cache, no registry metadata).
 */
function consumerLock(tarball: string, integrity: string, extra: string[]): Record<string, unknown> {
  const ours = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; engines: Record<string, string>; bin: Record<string, string> };
  const packages: Record<string, LockEntry> = {};
  /** Where node would find `name` from the package at `from` (its own node_modules, then each parent's). */
  const locate = (from: string, name: string): string | undefined => {
    for (let at = from; ; at = at.slice(0, Math.max(0, at.lastIndexOf('/node_modules/')))) {
      const key = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (ours.packages[key]) return key;
      if (!at) return undefined;
    }
  };
  const add = (key: string) => {
    if (packages[key]) return;
    const { dev: _dev, devOptional: _devOptional, ...entry } = ours.packages[key]!;
    packages[key] = entry;
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      const found = locate(key, name);
      if (found) add(found);
    }
  };
  for (const name of [...Object.keys(own.dependencies), ...extra]) add(locate('', name)!);
  return {
    name: 'consumer',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'consumer', dependencies: { callhook: `file:${tarball}`, ...Object.fromEntries(extra.map((name) => [name, ours.packages[`node_modules/${name}`]!.version])) } },
      'node_modules/callhook': { version: own.version, resolved: `file:${tarball}`, integrity, license: 'MIT', dependencies: own.dependencies, bin: own.bin, engines: own.engines },
      ...packages,
    },
  };
}

describe('the npm package', () => {
  let dir: string;
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callhook-consumer-'));
    receiver = await new Receiver().start();
    h = await startHarness(__filename, `
policies:
  - id: default
    apps:
      - { name: CRM, url: "${receiver.url}/crm/{{ event.calling_number }}", method: POST, body: { name: "{{ event.calling_name }}", ref: "{{ event.crm_ref }}" } }
`, { apiToken: TOKEN });
  });
  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('packs, installs offline from the tarball, compiles a TypeScript producer with tsc, and its calls reach the receiver', async () => {
    expect(existsSync(join(ROOT, 'dist/src/index.js'))).toBe(true); // npm test builds first
    const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

    // The package as published (dist/ is fresh: npm test builds before jest).
    const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)) as { filename: string; files: { path: string }[] }[];
    const { filename, files } = packed[0]!;
    const paths = files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/client/index.d.ts', 'dist/workers/cli.js', 'dist/console/index.html', 'dist/docs/swagger-ui-bundle.js']));
    expect(paths.filter((p) => /^(src|test|bench)\/|\.map$|tsbuildinfo/.test(p))).toEqual([]);

    const tarball = readFileSync(join(dir, filename));
    const integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: (consumerLock(filename, integrity, ['typescript', '@types/node']).packages as Record<string, { dependencies?: object }>)['']!.dependencies }, null, 2));
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(consumerLock(filename, integrity, ['typescript', '@types/node']), null, 2));
    npm(['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], dir);

    // A strict, modern consumer: ESM, node16 resolution (package.json "exports" and their types),
    // optional options given `process.env.X` (exactOptionalPropertyTypes).
    const strict = { strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, types: ['node'], skipLibCheck: false };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out', ...strict }, files: ['producer.ts'] }));
    copyFileSync(FIXTURE, join(dir, 'producer.ts'));
    const tsc = spawnSync(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);

    // A CommonJS consumer of `callhook/client` alone (node10 resolution, typesVersions): its
    // declarations check on their own, and load nothing of the server's or its dependencies'.
    writeFileSync(join(dir, 'tsconfig.client.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', moduleResolution: 'node10', noEmit: true, ...strict }, files: ['client-only.ts'] }));
    copyFileSync(CLIENT_ONLY, join(dir, 'client-only.ts'));
    const cjs = spawnSync(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.client.json'), '--listFiles'], { encoding: 'utf8' });
    const loaded = cjs.stdout.split('\n').filter((line) => line.includes('/node_modules/') && !/\/node_modules\/(typescript|@types\/node|undici-types)\//.test(line));
    expect(cjs.stderr + cjs.stdout.split('\n').filter((line) => / error TS/.test(line)).join('\n')).toBe('');
    expect(cjs.status).toBe(0);
    expect(loaded).toContainEqual(expect.stringMatching(/\/node_modules\/callhook\/dist\/src\/client\/types\.d\.ts$/));
    expect(loaded.filter((file) => !/\/node_modules\/callhook\/dist\/src\/(client|util)\//.test(file))).toEqual([]);

    const ids = { HTTP_CALL_ID: `pkg-http-${Date.now()}`, REDIS_CALL_ID: `pkg-redis-${Date.now()}` };
    const unreachable = `http://127.0.0.1:${await freePort()}`;
    // Asynchronously: callhook runs in this process and must answer the producer meanwhile.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = execFile(process.execPath, [join(dir, 'out/producer.js')], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, ...ids, CALLHOOK_URL: h.baseUrl, CALLHOOK_TOKEN: TOKEN, REDIS_URL: redisUrl(), CALLHOOK_PREFIX: h.prefix, UNREACHABLE_URL: unreachable },
      }, (_error, stdout, stderr) => done({ status: child.exitCode, stdout, stderr }));
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(report).toMatchObject({
      viaHttp: { call_id: ids.HTTP_CALL_ID, status: 'queued' },
      resent: { call_id: ids.HTTP_CALL_ID, status: 'duplicate' },
      viaRedis: { call_id: ids.REDIS_CALL_ID, status: 'queued' },
      refused: { status: 400, code: 'CALLHOOK_EVENT_INVALID', problems: ['called_number: is required'] },
      badBatch: ['[1].called_number: is required'],
      badPolicy: ['CALLHOOK_POLICY_NOT_FOUND', 'policy: no policy "nope"'],
      unreachable: { code: 'ECONNREFUSED', attempts: 1 },
      statuses: [
        [ids.HTTP_CALL_ID, 'completed', 'A-17'],
        [ids.REDIS_CALL_ID, 'completed', 'A-17'],
      ],
      retry503: { retry: true, delayMs: 2000 },
    });
    expect(report.feed).toEqual(expect.arrayContaining([ids.HTTP_CALL_ID, ids.REDIS_CALL_ID]));
    expect(report.listed).toEqual(expect.arrayContaining([ids.HTTP_CALL_ID, ids.REDIS_CALL_ID]));

    // Each call reached the receiver once (the resent call_id was not queued again).
    const requests = receiver.to('/crm/%2B1%20%28555%29%20123-4567');
    expect(requests.map((r) => r.headers['idempotency-key']).sort()).toEqual([`${ids.HTTP_CALL_ID}.crm`, `${ids.REDIS_CALL_ID}.crm`]);
    for (const request of requests) expect(request.json).toEqual({ name: "O'Brien & Sons", ref: 'A-17' });
  }, 150_000);
});
