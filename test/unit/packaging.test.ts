import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseDuration } from '../../src/util/duration';
import { parseSettings } from '../../src/settings';

/**
 * Docker packaging, checked statically (no Docker engine in CI): docker-compose.yml and the
 * Dockerfile must deliver what the README (Run with Docker Compose) promises, and every command they run must exist.
 * And what the npm package ships beside the code (`npm pack --dry-run`).
 */

const ROOT = resolve(__dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target?: number; published?: number | string })[];
  volumes?: (string | { source?: string; target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  deploy?: { replicas?: number };
  container_name?: string;
  stop_grace_period?: string;
  healthcheck?: { test?: string | string[]; disable?: boolean };
}

// Compose supports YAML merge keys (`<<: *anchor`); the yaml package needs them switched on.
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  version?: unknown;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};
const APP_SERVICES = ['api', 'worker', 'demo-receiver'];

const argv = (command: Service['command']): string[] =>
  Array.isArray(command) ? command : (command ?? '').split(/\s+/).filter(Boolean);

const envOf = (s: Service): Record<string, string> => {
  const entries = Array.isArray(s.environment)
    ? s.environment.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
    : Object.entries(s.environment ?? {}).map(([key, value]) => [key, String(value ?? '')]);
  return Object.fromEntries(entries);
};

/** Settings as the container sees them: compose puts the default of `${VAR:-default}` in when VAR is unset. */
const settingsOf = (s: Service) =>
  parseSettings(Object.fromEntries(Object.entries(envOf(s)).map(([key, value]) => [key, value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}/g, '$1')])));

const dependsOnHealthy = (s: Service, name: string): boolean =>
  !Array.isArray(s.depends_on) && s.depends_on?.[name]?.condition === 'service_healthy';

/** The value of `--flag value` in an argv. */
const flag = (args: string[], name: string): string | undefined => args[args.indexOf(name) + 1];

/** Dockerfile instructions, continuation lines joined, comments dropped. */
const dockerfile = read('Dockerfile')
  .replace(/\\\r?\n/g, ' ')
  .split(/\r?\n/)
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
  .map((line) => {
    const [, instruction = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    return { instruction: instruction.toUpperCase(), args };
  });
const lastIndex = (instruction: string) => dockerfile.map((i) => i.instruction).lastIndexOf(instruction);
const finalStage = dockerfile.slice(lastIndex('FROM'));
const inFinalStage = (instruction: string) => finalStage.filter((i) => i.instruction === instruction).map((i) => i.args);

/** Subcommands registered with commander anywhere in workers/ (`.command('api')`). */
const cliCommands = new Set(
  readdirSync(join(ROOT, 'workers'))
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) => [...read(`workers/${file}`).matchAll(/\bcommand\(\s*['"]([a-z][\w-]*)['"]/gi)].map((m) => m[1])),
);

describe('docker-compose.yml', () => {
  it('uses the Compose spec (no version key) and has the four services', () => {
    expect(compose.version).toBeUndefined();
    expect(Object.keys(services).sort()).toEqual(['api', 'demo-receiver', 'redis', 'worker']);
  });

  it('runs Redis 7 with the append-only file on, noeviction, a named volume and a healthcheck', () => {
    const redis = service('redis');
    expect(redis.image).toMatch(/^redis:7(\.|-|$)/);
    const args = argv(redis.command);
    expect(args[0]).toBe('redis-server');
    expect(flag(args, '--appendonly')).toBe('yes');
    expect(flag(args, '--appendfsync')).toBe('everysec');
    expect(flag(args, '--maxmemory-policy')).toBe('noeviction');

    const data = (redis.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target]));
    const mount = data.find(([, target]) => target === '/data');
    expect(mount).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(mount?.[0]); // named, not a bind mount
    expect(argv(redis.healthcheck?.test).join(' ')).toMatch(/redis-cli ping/);
  });

  it.each(APP_SERVICES)('%s is built from the Dockerfile at the repo root', (name) => {
    const build = service(name).build;
    const context = typeof build === 'string' ? build : build?.context;
    const file = typeof build === 'object' && build.dockerfile ? build.dockerfile : 'Dockerfile';
    expect(context).toBe('.');
    expect(file).toBe('Dockerfile');
  });

  it.each([
    ['api', ['node', 'dist/workers/cli.js', 'api']],
    ['worker', ['node', 'dist/workers/cli.js', 'worker']],
    ['demo-receiver', ['node', 'dist/workers/cli.js', 'demo-receiver', '--port', '9090', '--host', '0.0.0.0']],
  ])('%s runs %j', (name, command) => {
    expect(argv(service(name).command)).toEqual(command);
  });

  it.each(['api', 'worker'])('%s uses the redis service and the demo policies, and waits for Redis to be healthy', (name) => {
    const env = envOf(service(name));
    const redisUrl = new URL(env.REDIS_URL ?? '');
    expect(redisUrl.protocol).toBe('redis:');
    expect(redisUrl.hostname).toBe('redis');
    expect(redisUrl.port || '6379').toBe('6379');
    expect(env.CALLHOOK_CONFIG).toBe('config/demo.yaml');
    expect(dependsOnHealthy(service(name), 'redis')).toBe(true);

    // The demo policies reach the receiver by its service name and the port it listens on.
    const receiver = new URL(env.DEMO_RECEIVER_URL ?? '');
    expect(receiver.hostname).toBe('demo-receiver');
    expect(receiver.port).toBe(flag(argv(service('demo-receiver').command), '--port'));
  });

  it('API and workers agree on every shared setting (Redis, prefix, policies)', () => {
    const { CALLHOOK_METRICS_PORT: _workerOnly, ...worker } = envOf(service('worker'));
    const { NODE_OPTIONS: apiNodeOptions, ...api } = envOf(service('api'));
    expect(worker).toEqual(api);
    expect(apiNodeOptions).toBe(''); // the API without the image's 64 MiB young generation (shorter pauses)
  });

  it('publishes the API on the host loopback by default and needs a token the operator sets (no default)', () => {
    const api = service('api');
    const ports = (api.ports ?? []).map((p) => (typeof p === 'object' ? `${p.published}:${p.target}` : String(p)));
    expect(ports).toEqual(['${CALLHOOK_PUBLISH:-127.0.0.1}:8080:8080']);
    const env = envOf(api);
    expect(env.CALLHOOK_HOST).toBe('0.0.0.0');
    // `${VAR:?message}`: compose stops with the message when the operator has not set one.
    expect(env.CALLHOOK_API_TOKEN).toMatch(/^\$\{CALLHOOK_API_TOKEN:\?.*openssl rand -hex 32.*\}$/);
    expect(read('docker-compose.yml')).not.toMatch(/change-me/);
    expect(settingsOf(api).port).toBe(8080);
  });

  it('worker is scalable: no published ports, no container_name, replicas set', () => {
    const worker = service('worker');
    expect(worker.ports ?? []).toEqual([]);
    expect(worker.container_name).toBeUndefined();
    expect(worker.deploy?.replicas).toBeGreaterThanOrEqual(1);
  });

  it('worker gets longer than its shutdown timeout to finish in-flight calls before SIGKILL', () => {
    const worker = service('worker');
    const grace = parseDuration(worker.stop_grace_period);
    expect(grace).toBeDefined();
    expect(grace).toBeGreaterThan(settingsOf(worker).shutdownTimeoutMs);
  });

  it("worker's healthcheck probes the port its metrics server listens on", () => {
    const worker = service('worker');
    const port = envOf(worker).CALLHOOK_METRICS_PORT;
    expect(port).toBeTruthy();
    expect(argv(worker.healthcheck?.test).join(' ')).toContain(`127.0.0.1:${port}/healthz`);
  });

  it('nothing depends on demo-receiver, so using your own policies is deleting that one service (README)', () => {
    for (const [name, s] of Object.entries(services)) {
      const dependencies = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      expect([name, dependencies]).not.toEqual([name, expect.arrayContaining(['demo-receiver'])]);
    }
    // What is left names it only in DEMO_RECEIVER_URL, which only config/demo.yaml reads.
    const { 'demo-receiver': _dropped, ...rest } = services;
    expect(JSON.stringify(rest).replaceAll('http://demo-receiver:9090', '')).not.toContain('demo-receiver');
    expect(read('README.md')).toMatch(/delete the `demo-receiver` service: no other service depends on it/);
  });

  it("demo-receiver's healthcheck probes the port it listens on, not the image's API port", () => {
    const receiver = service('demo-receiver');
    const port = flag(argv(receiver.command), '--port');
    expect(argv(receiver.healthcheck?.test).join(' ')).toContain(`127.0.0.1:${port}/healthz`);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on Node 20: a build stage and a runtime stage that copies dist/ from it', () => {
    const froms = dockerfile.filter((i) => i.instruction === 'FROM').map((i) => i.args);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^node:20[.-]/);
    const buildStage = /\bAS\s+(\S+)/i.exec(froms[0] ?? '')?.[1];
    expect(buildStage).toBeDefined();
    expect(inFinalStage('COPY')).toContainEqual(expect.stringMatching(new RegExp(`^--from=${buildStage}\\s+\\S*dist\\S*\\s`)));
    expect(inFinalStage('COPY')).toContainEqual(expect.stringMatching(/^config\s/));
  });

  it('builds with dev dependencies, installs production ones only at runtime (prepare needs tsc)', () => {
    const runs = dockerfile.filter((i) => i.instruction === 'RUN').map((i) => i.args);
    expect(runs.join('\n')).toMatch(/npm run build/);
    const runtimeInstall = inFinalStage('RUN').find((r) => r.includes('npm ci'));
    expect(runtimeInstall).toMatch(/--omit=dev/);
    // package.json's `prepare` runs tsc, which --omit=dev does not install.
    expect(runtimeInstall).toMatch(/--ignore-scripts/);
    expect(JSON.parse(read('package.json')).scripts.prepare).toBeDefined();
  });

  it('runs as the non-root node user in production mode', () => {
    const users = inFinalStage('USER');
    expect(users.at(-1)).toBe('node');
    expect(inFinalStage('ENV').join('\n')).toMatch(/NODE_ENV=production/);
  });

  it('exposes 8080, checks /healthz without curl, and starts API + worker by default', () => {
    expect(inFinalStage('EXPOSE')).toEqual(['8080']);
    const healthcheck = inFinalStage('HEALTHCHECK').at(-1) ?? '';
    expect(healthcheck).toMatch(/CMD\s+\["node",/);
    expect(healthcheck).toContain('/healthz');
    expect(JSON.parse(inFinalStage('CMD').at(-1) ?? 'null')).toEqual(['node', 'dist/workers/cli.js', 'start']);
  });

  it('.dockerignore keeps local state and secrets out, and nothing the build needs', () => {
    const ignored = read('.dockerignore').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', '.callhook', 'coverage', '.env']));
    // `npm run build` compiles tsconfig.build.json's include (bench/ also imports test/helpers/).
    const include = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;
    const needed = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'config', 'test', ...include];
    for (const path of needed) expect(ignored).not.toContain(path);
  });
});

describe('what the containers run exists', () => {
  const texts = { 'docker-compose.yml': read('docker-compose.yml'), Dockerfile: read('Dockerfile') };

  it.each(Object.entries(texts))('every dist/*.js in %s is compiled from a source file', (_file, text) => {
    const scripts = [...text.matchAll(/\bdist\/([\w/.-]+)\.js\b/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(existsSync(join(ROOT, `${script}.ts`))).toBe(true);
  });

  const subcommands = [...APP_SERVICES.map((name) => argv(service(name).command)[2]), 'start'];

  it.each(subcommands)('the CLI has a %s command', (command) => {
    expect(cliCommands).toContain(command);
  });

  it('the demo receiver answers /healthz (its compose healthcheck)', () => {
    const sources = readdirSync(join(ROOT, 'src/demo')).map((file) => read(`src/demo/${file}`));
    expect(sources.join('\n')).toContain("'/healthz'");
  });

  it('config/demo.yaml sends to ${DEMO_RECEIVER_URL}, so the containers reach the receiver', () => {
    expect(read('config/demo.yaml')).toContain('${DEMO_RECEIVER_URL}');
  });
});

describe('the npm package', () => {
  /** The files `npm pack` would put in the tarball (no build: `prepare` is not run). */
  const packed = (): string[] => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    return (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  };
  const deployFiles = (dir = 'deploy'): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? deployFiles(`${dir}/${entry.name}`) : [`${dir}/${entry.name}`]));

  it('ships deploy/ (systemd units, alert rules and their tests, the dashboard): the units point at the package for their documentation', () => {
    const files = deployFiles();
    expect(files).toEqual(expect.arrayContaining(['deploy/systemd/callhook-worker@.service', 'deploy/prometheus/alerts.yml', 'deploy/grafana/callhook.json']));
    expect(packed()).toEqual(expect.arrayContaining(files));
    for (const unit of files.filter((f) => f.endsWith('.service'))) expect(read(unit)).toMatch(/^Documentation=https:\/\/www\.npmjs\.com\/package\/callhook$/m);
  });
});
