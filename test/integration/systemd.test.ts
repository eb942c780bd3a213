import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { renderCdrFile, syntheticRows } from '../helpers/cdr-generator';
import { CLI } from '../helpers/processes';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';
import { requireTool, systemdAnalyze } from '../helpers/tools';

/**
 * deploy/systemd/: each unit passes `systemd-analyze verify`, scores as well hardened with
 * `systemd-analyze security --offline`, and starts a command the CLI really has.
 *
 * verify checks that ExecStart's program exists and is executable; /usr/local/bin/callhook (where
 * `npm install -g` puts it) does not exist on a build machine. So each unit is verified as a copy
 * whose only change is that path, pointing at an executable the test creates that runs this
 * checkout's CLI; the test checks the copy differs in that line and nowhere else.
 */
const DIR = resolve(__dirname, '../../deploy/systemd');
const UNITS = readdirSync(DIR).filter((f) => f.endsWith('.service')).sort();
const INSTALLED = '/usr/local/bin/callhook';
/** The unit systemd runs from a file: a template (`x@.service`) as one of its instances. */
const instance = (unit: string) => unit.replace('@.service', '@9464.service');

/** A unit's settings: `Key` → values, in order (ExecStart, ReadWritePaths...). */
function settings(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) found.set(match[1]!, [...(found.get(match[1]!) ?? []), match[2]!]);
  }
  return found;
}

describe('systemd units', () => {
  let dir: string;
  let program: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'callhook-units-'));
    program = join(dir, 'callhook');
    writeFileSync(program, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(program, 0o755);
    for (const unit of UNITS) {
      const text = readFileSync(join(DIR, unit), 'utf8');
      const copy = text.replaceAll(INSTALLED, program);
      const changed = copy.split('\n').filter((line, i) => line !== text.split('\n')[i]);
      expect(changed).toEqual([expect.stringMatching(new RegExp(`^ExecStart=${program.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} `))]);
      writeFileSync(join(dir, instance(unit)), copy);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('there are units for the API, the worker and the CDR watcher', () => {
    expect(UNITS).toEqual(['callhook-api.service', 'callhook-ingest-cdr.service', 'callhook-worker@.service']);
  });

  it('each worker instance serves its metrics on the port it is named after, so several run side by side', () => {
    expect(settings(readFileSync(join(DIR, 'callhook-worker@.service'), 'utf8')).get('Environment')).toContain('CALLHOOK_METRICS_PORT=%i');
    expect(readFileSync(join(DIR, 'callhook.env'), 'utf8')).not.toMatch(/^CALLHOOK_METRICS_PORT=/m);
  });

  it('the CDR watcher serves its metrics (the calls it queued) on a port below the workers\'', () => {
    const environment = settings(readFileSync(join(DIR, 'callhook-ingest-cdr.service'), 'utf8')).get('Environment') ?? [];
    const port = environment.map((e) => /^CALLHOOK_METRICS_PORT=(\d+)$/.exec(e)?.[1]).find(Boolean);
    expect(Number(port)).toBeGreaterThan(1023);
    expect(Number(port)).toBeLessThan(9464); // callhook-worker@9464 and up, as README installs them
  });

  it.each(UNITS)('%s passes systemd-analyze verify with nothing to say', (unit) => {
    const result = spawnSync(systemdAnalyze(), ['verify', join(dir, instance(unit))], { encoding: 'utf8', timeout: 30_000 });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(UNITS)('%s is hardened: exposure at most 2.0 ("OK") in systemd-analyze security', (unit) => {
    const result = spawnSync(systemdAnalyze(), ['security', '--offline=true', '--no-pager', join(dir, instance(unit))], { encoding: 'utf8', timeout: 30_000 });
    const level = /Overall exposure level for \S+: ([\d.]+)/.exec(result.stdout)?.[1];
    expect(level).toBeDefined();
    expect(Number(level)).toBeLessThanOrEqual(2.0);
  });

  it.each(UNITS)('%s runs as the callhook user, restarts after any exit, reads the environment file, cannot gain privileges', (unit) => {
    const s = settings(readFileSync(join(DIR, unit), 'utf8'));
    expect(s.get('User')).toEqual(['callhook']);
    expect(s.get('EnvironmentFile')).toEqual(['/etc/callhook/callhook.env']);
    expect(s.get('Restart')).toEqual(['always']);
    expect(s.get('NoNewPrivileges')).toEqual(['yes']);
    expect(s.get('ProtectSystem')).toEqual(['strict']);
    expect(s.get('ExecStart')?.[0]).toMatch(new RegExp(`^${INSTALLED} `));
  });

  it('the CDR watcher may write the directory it watches, and nothing else', () => {
    const s = settings(readFileSync(join(DIR, 'callhook-ingest-cdr.service'), 'utf8'));
    const args = s.get('ExecStart')![0]!.split(/\s+/);
    expect(args.slice(1, 2)).toEqual(['ingest-cdr']);
    expect(args).toContain('--watch');
    const watched = args.filter((a, i) => i > 1 && !a.startsWith('--'));
    expect(s.get('ReadWritePaths')).toEqual(watched);
    expect(readFileSync(join(DIR, 'callhook.tmpfiles'), 'utf8')).toContain(`d ${watched[0]} 2770 callhook callhook`);
    for (const unit of UNITS.filter((u) => u !== 'callhook-ingest-cdr.service')) expect(settings(readFileSync(join(DIR, unit), 'utf8')).get('ReadWritePaths')).toBeUndefined();
  });

  it.each(UNITS)("%s's command line is one the CLI takes", (unit) => {
    const args = settings(readFileSync(join(dir, instance(unit)), 'utf8')).get('ExecStart')![0]!.split(/\s+/).slice(1);
    const result = spawnSync(program, [...args, '--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`Usage: callhook ${args[0]}`));
  });
});

/**
 * The units' SystemCallFilter= kills a service that makes any other system call, and V8 makes
 * some at start that a Node service does not obviously need (pkey_alloc). With no systemd as PID 1
 * here, each unit's command is started under the same allow-list by a small seccomp launcher
 * (test/helpers/seccomp-allow.c, built with gcc), does its work, and must stop cleanly on SIGTERM.
 */
describe('systemd units under their own system call filter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'callhook-seccomp-'));
  const prefix = uniquePrefix('systemd-seccomp');
  let launcher: string;
  beforeAll(() => {
    launcher = join(dir, 'seccomp-allow');
    const gcc = requireTool('gcc', 'CC', 'apt-get install -y gcc');
    const built = spawnSync(gcc, ['-O2', '-o', launcher, resolve(__dirname, '../helpers/seccomp-allow.c')], { encoding: 'utf8' });
    expect(built.stderr).toBe('');
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const redis = connectRedis();
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  /** The syscall numbers a SystemCallFilter= line allows, its @groups expanded by systemd-analyze. */
  function allowedNumbers(filter: string): number[] {
    const numbers = new Map<string, number>();
    for (const m of readFileSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', 'utf8').matchAll(/#define __NR_(\w+) (\d+)/g)) numbers.set(m[1]!, Number(m[2]));
    const names = new Set<string>();
    const expand = (item: string): void => {
      if (!item.startsWith('@')) return void names.add(item);
      const listed = spawnSync(systemdAnalyze(), ['syscall-filter', item], { encoding: 'utf8' }).stdout.split('\n').slice(1);
      for (const line of listed.map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) expand(line);
    };
    expect(filter).not.toMatch(/^~/); // a deny-list would need another launcher
    filter.split(/\s+/).forEach(expand);
    return [...names].flatMap((name) => numbers.get(name) ?? []);
  }

  /** Starts the unit's command under its filter; resolves with its log once `ready` is logged, then stops it. */
  async function runUnit(unit: string, ready: string, env: Record<string, string>, args?: string[]): Promise<{ code: number | null; signal: string | null; log: string }> {
    const s = settings(readFileSync(join(DIR, unit), 'utf8'));
    const command = args ?? s.get('ExecStart')![0]!.split(/\s+/).slice(1);
    const child = spawn(launcher, [process.execPath, CLI, ...command], {
      env: { ...process.env, ALLOW: allowedNumbers(s.get('SystemCallFilter')!.join(' ')).join(','), REDIS_URL: redisUrl(), CALLHOOK_PREFIX: prefix, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    let stopping = false;
    const collect = (d: Buffer) => {
      log += d.toString();
      // The stop handlers are installed just after the ready line is written.
      if (!stopping && log.includes(`"msg":"${ready}`)) stopping = Boolean(setTimeout(() => child.kill('SIGTERM'), 300));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((done) => child.once('exit', (c, sig) => done([c, sig])));
    clearTimeout(timer);
    return { code, signal, log };
  }

  it('the API starts, listens and stops', async () => {
    const run = await runUnit('callhook-api.service', 'api listening', { CALLHOOK_PORT: '0' });
    expect(run).toMatchObject({ code: 0, signal: null });
    expect(run.log).toContain('shutting down');
  });

  it('a worker starts, serves its metrics and stops', async () => {
    const run = await runUnit('callhook-worker@.service', 'worker metrics listening', { CALLHOOK_METRICS_PORT: '0' });
    expect(run).toMatchObject({ code: 0, signal: null });
  });

  it('the CDR watcher reads a CDR file, queues its calls and stops', async () => {
    const watched = join(dir, 'cdr');
    mkdirSync(watched);
    writeFileSync(join(watched, 'cdr_StandAloneCluster_01_202601010000_1'), renderCdrFile(syntheticRows(3)));
    // Its unit sets CALLHOOK_METRICS_PORT: the metrics server runs under the filter too.
    const run = await runUnit('callhook-ingest-cdr.service', 'cdr file ingested', { CALLHOOK_METRICS_PORT: '0' }, ['ingest-cdr', watched, '--watch', '--settle', '100ms', '--cmr-wait', '0s']);
    expect(run).toMatchObject({ code: 0, signal: null });
    expect(run.log).toMatch(/"queued":3/);
    expect(run.log).toContain('cdr ingester metrics listening');
  });
});
