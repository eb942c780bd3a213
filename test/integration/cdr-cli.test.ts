import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, copyFile, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createCallsQueue, jobIdFor, type CallJobData } from '../../src/queue/calls-queue';
import { CDR_TEST_POLICIES, cdrRow, renderCdrFile, renderCmrFile, syntheticInterval, syntheticRows, writeCdrFile, writeCmrFile, writeInterval } from '../helpers/cdr-generator';
import { logLines, until } from '../helpers/processes';
import { connectRedis, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/workers/cli.js');
const SAMPLES = resolve(ROOT, '../shared/cdr-samples/sieteunoseis-cisco-cucm-cdr');

let redis: Redis;
let queue: Queue<CallJobData>;
let prefix: string;
let dir: string;
let env: NodeJS.ProcessEnv;

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function cli(args: string[], extraEnv: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [CLI, 'ingest-cdr', ...args], { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((res) =>
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

beforeAll(() => {
  redis = connectRedis();
});
afterAll(() => redis.quit());
beforeEach(async () => {
  prefix = uniquePrefix(__filename);
  queue = createCallsQueue(redis, prefix);
  dir = await mkdtemp(join(tmpdir(), 'cdr-cli-'));
  await writeFile(join(dir, 'policies.yaml'), CDR_TEST_POLICIES);
  env = { ...process.env, REDIS_URL: redisUrl(), CALLHOOK_PREFIX: prefix, CALLHOOK_CONFIG: join(dir, 'policies.yaml'), LOG_LEVEL: 'info' };
});
afterEach(async () => {
  await queue.close();
  await deletePrefix(redis, prefix);
  await rm(dir, { recursive: true, force: true });
});

it('queues every record exactly once when killed mid-file and restarted', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const rows = syntheticRows(400, 71, 900_000);
  await writeCdrFile(join(drop, 'cdr_Gen_04_202601010000_1'), rows);
  const ids = rows.map((r) => r.expected?.call_id ?? '');

  const first = cli([drop, '--batch', '10'], { CALLHOOK_CDR_BATCH_DELAY_MS: '25' });
  await until(async () => (await queue.getWaitingCount()) >= 120);
  first.child.kill('SIGKILL');
  expect((await first.done).signal).toBe('SIGKILL');
  const atKill = await queue.getWaitingCount();
  expect(atKill).toBeLessThan(400);

  const second = cli([drop, '--batch', '10']);
  const result = await second.done;
  expect(result.code).toBe(0);
  const logs = logLines(result.stdout);
  const fileLog = logs.find((l) => l.msg === 'cdr file ingested');
  expect(fileLog?.resumed_from_line).toBeGreaterThan(3);
  // A batch the killed run had marked but not yet seen land (its jobs still in the socket, or
  // not sent) is re-read on resume and reported as duplicates, though its jobs are (re)added.
  // Which records were queued exactly once is what the queue's contents below show.
  const queued = Number(fileLog?.queued);
  expect(queued + atKill).toBeLessThanOrEqual(400);
  expect(queued + Number(fileLog?.duplicates) + atKill).toBeGreaterThanOrEqual(400);
  expect(await queue.getWaitingCount()).toBe(400);
  const waiting = await queue.getWaiting(0, 1000);
  expect(new Set(waiting.map((j) => j.id))).toEqual(new Set(ids.map(jobIdFor)));
  const records = await redis.keys(`${prefix}:call:*`);
  expect(records).toHaveLength(400);

  const third = await cli([drop]).done;
  expect(third.code).toBe(0);
  expect(logLines(third.stdout).find((l) => l.msg === 'cdr ingest finished')).toMatchObject({ already_done: 1, queued: 0 });
  expect(await queue.getWaitingCount()).toBe(400);
}, 60_000);

it('exits 0 on the real CUCM CDR and CMR files of an interval, joins their quality and rejects nothing', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const name = 'cucmOHSUtest_2_202504181632_1';
  await copyFile(join(SAMPLES, 'cdr.txt'), join(drop, `cdr_${name}`));
  await copyFile(join(SAMPLES, 'cmr.txt'), join(drop, `cmr_${name}`));
  const result = await cli([drop]).done;
  expect(result.code).toBe(0);
  const logs = logLines(result.stdout);
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'cdr file ingested', file: join(drop, `cdr_${name}`), quality_joined: 1, cmr_file: `cmr_${name}` }));
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'cmr file done', file: join(drop, `cmr_${name}`), role: 'twin', records: 2, joined: 2, unmatched: 0 }));
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, cmr_files: 1, rejected_files: 0, records: 3, queued: 3, quality_joined: 1, cmr_unmatched: 0 });
  expect(await readdir(drop)).toEqual([`cdr_${name}`, `cmr_${name}`]);
  const event = JSON.parse((await redis.hget(`${prefix}:call:cdr-2-25447-47874239-47874240`, 'event')) ?? '{}') as { quality?: { orig?: Record<string, unknown> } };
  expect(event.quality?.orig).toMatchObject({ device_name: 'SEPCC7F750586B7', packets_sent: 559, vq: { CCR: 0 } });

  const again = await cli([drop]).done;
  expect(again.code).toBe(0);
  expect(logLines(again.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', already_done: 2, files: 0, cmr_files: 0 });
});

it('logs JSON off a terminal: rejected records with file and line, moved files, a summary; exit 2', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const rows = syntheticRows(12, 81, 910_000);
  const lines = renderCdrFile(rows).split('\n');
  lines[6] = '1,2,3';
  await writeFile(join(drop, 'cdr_Gen_05_202601010000_1'), lines.join('\n'));
  await writeCmrFile(join(drop, 'cmr_Gen_05_202601010000_1'));
  await writeFile(join(drop, 'cdr_Gen_05_202601010001_2'), 'not, a, cdr\n');
  const result = await cli([drop, '--policy', 'default']).done;
  expect(result.code).toBe(2);
  const logs = logLines(result.stdout);
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'cdr record rejected', file: join(drop, 'cdr_Gen_05_202601010000_1'), line: 7, reason: 'has 3 fields; the header has 133 (truncated or damaged line)' }));
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'not a CDR file', moved_to: join(drop, 'rejected', 'cdr_Gen_05_202601010001_2') }));
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'cmr file done', file: join(drop, 'cmr_Gen_05_202601010000_1'), role: 'twin', unmatched: 1 }));
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, cmr_files: 1, rejected_files: 1, records: 12, queued: 11, duplicates: 0, rejected: 1, cmr_unmatched: 1 });
  const event = JSON.parse((await redis.hget(`${prefix}:call:${rows[0]?.expected?.call_id}`, 'event')) ?? '{}') as Record<string, unknown>;
  expect(event).toMatchObject({ ...rows[0]?.expected, policy: 'default' });
});

it('leaves files caught mid-upload where they are (exit 1), and reads them on a later run once complete', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const [cdr, cmr] = await Promise.all([readFile(join(SAMPLES, 'cdr.txt')), readFile(join(SAMPLES, 'cmr.txt'))]);
  // SFTP creates a file empty, then writes it: a cron run can come at any point of that.
  const paths = { empty: join(drop, 'cdr_C1_01_202601010007_1'), cut: join(drop, 'cdr_C1_01_202601010008_2'), cmr: join(drop, 'cmr_C1_01_202601010009_3') };
  await writeFile(paths.empty, '');
  await writeFile(paths.cut, cdr.subarray(0, 3000)); // ends inside the header line
  await writeFile(paths.cmr, cmr.subarray(0, 1000));
  const first = await cli([drop]).done;
  expect(first.code).toBe(1);
  const logs = logLines(first.stdout);
  const waiting = logs.filter((l) => l.msg === 'cdr file not complete yet; left in place and read once complete');
  expect(waiting.map((l) => [l.file, l.cause, l.level])).toEqual(expect.arrayContaining([paths.cmr, paths.empty, paths.cut].map((p) => [p, 'waiting', 40])));
  expect(waiting).toHaveLength(3);
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', unfinished: 3, rejected_files: 0, files: 0 });
  expect((await readdir(drop)).sort()).toEqual(Object.values(paths).map((p) => p.slice(drop.length + 1)).sort());

  await writeCdrFile(paths.empty, syntheticRows(4, 83, 916_000));
  await writeFile(paths.cut, cdr);
  await writeFile(paths.cmr, cmr);
  const second = await cli([drop]).done;
  expect(second.code).toBe(0);
  expect(logLines(second.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 2, cmr_files: 1, unfinished: 0, rejected_files: 0, queued: 7, quality_joined: 1 });
});

it('reads a file fixed in place at the same size again only with --force, and sends no call twice', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const path = join(drop, 'cdr_Gen_13_202601010000_1');
  const rows = syntheticRows(600, 84, 917_000);
  const lines = renderCdrFile(rows).split('\n');
  const text = lines.join('\n');
  // A record between the first 128 KiB and the last 64 KiB, which fileIdentity hashes.
  const startOf = (i: number) => Buffer.byteLength(lines.slice(0, i).join('\n')) + 1;
  const middle = lines.findIndex((_, i) => i > 2 && startOf(i) > 128 * 1024);
  expect(startOf(middle + 1)).toBeLessThan(Buffer.byteLength(text) - 64 * 1024);
  const damaged = [...lines];
  damaged[middle] = damaged[middle]!.replace(',', ';'); // one field fewer: the record is rejected
  await writeFile(path, damaged.join('\n'));
  const first = await cli([drop]).done;
  expect(first.code).toBe(2);
  expect(logLines(first.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, records: 600, queued: 599, rejected: 1 });

  await writeFile(path, text); // mended in place: same name, same size, same first and last 64 KiB
  const again = await cli([drop]).done;
  expect(again.code).toBe(0);
  expect(logLines(again.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', already_done: 1, files: 0, queued: 0 });

  const forced = await cli([path, '--force']).done;
  expect(forced.code).toBe(0);
  expect(logLines(forced.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', already_done: 0, files: 1, records: 600, queued: 1, duplicates: 599, rejected: 0 });
  const ids = rows.map((r) => r.expected?.call_id ?? '');
  expect(await queue.getWaitingCount()).toBe(600);
  expect(new Set((await queue.getWaiting(0, 1000)).map((j) => j.id))).toEqual(new Set(ids.map(jobIdFor)));
  expect(await redis.keys(`${prefix}:call:*`)).toHaveLength(600);

  expect((await cli([drop, '--force']).done).stderr).toContain(`callhook: --force takes files, not directories: ${drop}`);
});

it('refuses a rejected/ that is a symlink: nothing moved through it, the file stays, exit 1', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const planted = await mkdtemp(join(dir, 'planted-'));
  await symlink(planted, join(drop, 'rejected'));
  await writeFile(join(drop, 'junk'), 'x\n');
  const result = await cli([drop]).done;
  expect(result.code).toBe(1);
  const logs = logLines(result.stdout);
  expect(logs).toContainEqual(expect.objectContaining({ file: join(drop, 'junk'), err: `${join(drop, 'rejected')} is a symlink: refusing to move files through it (make it a real directory)` }));
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', unfinished: 1, rejected_files: 0 });
  expect(await readdir(planted)).toEqual([]);
  expect((await readdir(drop)).sort()).toEqual(['junk', 'rejected']);
});

it('exits 0 on abandoned calls (off hook, nothing dialled), counted as skipped and abandoned, not rejected', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const rows = syntheticRows(6, 82, 915_000);
  // What CUCM writes with "CDR Log Calls With Zero Duration" on: no called number, no connect, duration 0.
  const offHook = cdrRow({ callId: 915_900, origLeg: 91, destLeg: 0, calling: '1001', called: '', start: 1_767_225_600 });
  await writeCdrFile(join(drop, 'cdr_Gen_12_202601010000_1'), [...rows, offHook]);
  const result = await cli([drop]).done;
  expect(result.code).toBe(0);
  const logs = logLines(result.stdout);
  expect(logs.filter((l) => l.msg === 'cdr record rejected')).toEqual([]);
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', records: 7, queued: rows.filter((r) => r.expected).length, rejected: 0, skipped: 1, abandoned: 1 });
});

it('reads a file its directory holds as a symlink, as it reads one named on the command line', async () => {
  const drop = await mkdtemp(join(dir, 'links-'));
  const name = 'cucmOHSUtest_2_202504181632_1';
  await symlink(join(SAMPLES, 'cdr.txt'), join(drop, `cdr_${name}`));
  await symlink(join(drop, 'nowhere'), join(drop, `cdr_${name}0`)); // dangling: not a file, skipped
  const result = await cli([drop, '--no-cmr']).done;
  expect(result.code).toBe(0);
  expect(logLines(result.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, records: 3, queued: 3 });
});

it('leaves CMR files unread with --no-cmr: quality null, exit 0, nothing moved', async () => {
  const drop = await mkdtemp(join(dir, 'drop-'));
  const interval = syntheticInterval(8, 95, 940_000);
  await writeInterval(drop, 'Gen_07_202601010000_1', interval);
  const result = await cli([drop, '--no-cmr']).done;
  expect(result.code).toBe(0);
  const logs = logLines(result.stdout);
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'cmr file left alone', file: join(drop, 'cmr_Gen_07_202601010000_1') }));
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, cmr_files: 1, quality_joined: 0, rejected_files: 0 });
  const event = JSON.parse((await redis.hget(`${prefix}:call:${interval.rows[0]?.expected?.call_id}`, 'event')) ?? '{}') as Record<string, unknown>;
  expect(event.quality).toBeNull();
  expect((await readdir(drop)).sort()).toEqual(['cdr_Gen_07_202601010000_1', 'cmr_Gen_07_202601010000_1']);
});

it('refuses a --cmr-wait that is not a duration', async () => {
  const result = await cli([dir, '--watch', '--cmr-wait', 'soon']).done;
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('callhook: --cmr-wait soon: expected a duration such as 5s or 500ms');
});

it('refuses an unknown --policy with a clear error', async () => {
  const result = await cli([dir, '--policy', 'nope']).done;
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`callhook: --policy nope: no such policy in ${join(dir, 'policies.yaml')} (policies: default)`);
});

it('queues nothing in a dry run', async () => {
  await writeCdrFile(join(dir, 'cdr_a'), syntheticRows(5, 91, 920_000));
  const result = await cli([join(dir, 'cdr_a'), '--dry-run']).done;
  expect(result.code).toBe(0);
  expect(logLines(result.stdout).at(-1)).toMatchObject({ msg: 'cdr ingest finished', dry_run: true, queued: 5 });
  expect(await redis.keys(`${prefix}:call:*`)).toEqual([]);
  expect(await redis.keys(`${prefix}:cdr:*`)).toEqual([]);
  expect(await queue.getWaitingCount()).toBe(0);
});

/** Writes a CDR file named `cdr_Clé_<suffix>` with é as one Latin-1 byte (0xE9): not valid UTF-8. */
async function writeLatin1Named(into: string, suffix: string): Promise<void> {
  await writeFile(Buffer.concat([Buffer.from(`${into}/cdr_Cl`), Buffer.from([0xe9]), Buffer.from(suffix)]), renderCdrFile(syntheticRows(3, 98, 960_000)));
}

it('says which file it cannot open when a name is not UTF-8, ingests the rest, and exits 2', async () => {
  const drop = await mkdtemp(join(dir, 'names-'));
  await writeCdrFile(join(drop, 'cdr_ok'), syntheticRows(4, 96, 940_000));
  await writeLatin1Named(drop, '_01_1');
  const result = await cli([drop]).done;
  expect(result.code).toBe(2);
  const logs = logLines(result.stdout);
  expect(logs.filter((l) => l.level === 40)).toEqual([
    expect.objectContaining({ file: join(drop, 'cdr_Cl\ufffd_01_1'), msg: `${join(drop, 'cdr_Cl\ufffd_01_1')}: file name is not valid UTF-8, so it cannot be opened; rename it to ingest it` }),
  ]);
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, queued: 4, unfinished: 0 });
});

it('watching, a name that is not UTF-8 is reported once, not on every listing', async () => {
  const drop = await mkdtemp(join(dir, 'watch-'));
  await writeLatin1Named(drop, '_02_1');
  const run = cli([drop, '--watch', '--settle', '100ms', '--interval', '20ms', '--no-cmr']);
  await writeCdrFile(join(drop, 'cdr_ok'), syntheticRows(2, 99, 970_000));
  await until(async () => (await queue.getWaitingCount()) >= 2);
  await new Promise((r) => setTimeout(r, 200)); // about ten more listings
  run.child.kill('SIGTERM');
  const result = await run.done;
  const logs = logLines(result.stdout);
  expect(logs.filter((l) => String(l.msg).includes('not valid UTF-8'))).toHaveLength(1);
  expect(result.code).toBe(0); // stopped: what it could not read was said as it came (a service manager takes 2 for a failure)
});

/** Resolves once the child has written `text` to stdout. */
function printed(run: Run, text: string, timeoutMs = 20_000): Promise<void> {
  let out = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`timed out waiting for ${text}; got ${out}`)), timeoutMs);
    run.child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(timer);
        res();
      }
    });
  });
}

it('watching, a file it could not finish makes the stop exit 1, and the log says why', async () => {
  const drop = await mkdtemp(join(dir, 'watch-'));
  const planted = await mkdtemp(join(dir, 'planted-'));
  await symlink(planted, join(drop, 'rejected'));
  await writeFile(join(drop, 'junk'), 'hello\n');
  const run = cli([drop, '--watch', '--settle', '100ms', '--interval', '20ms', '--no-cmr']);
  await printed(run, 'cdr file failed');
  run.child.kill('SIGTERM');
  const result = await run.done;
  expect(result.code).toBe(1);
  const logs = logLines(result.stdout);
  expect(logs).toContainEqual(
    expect.objectContaining({ msg: 'cdr file failed: the file or rejected/ could not be read, moved or written; tried again later', cause: 'file', file: join(drop, 'junk'), err: expect.stringContaining('is a symlink') }),
  );
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', unfinished: 1 });
  expect(await readdir(planted)).toEqual([]);
});

it('watches a directory, waits for a file written in two writes, and stops on SIGTERM', async () => {
  const drop = await mkdtemp(join(dir, 'watch-'));
  const run = cli([drop, '--watch', '--settle', '400ms', '--interval', '50ms', '--cmr-wait', '200ms']);
  const rows = syntheticRows(30, 93, 930_000);
  const text = renderCdrFile(rows);
  const path = join(drop, 'cdr_Gen_06_202601010000_1');
  await writeFile(path, text.slice(0, 3000));
  await new Promise((r) => setTimeout(r, 200));
  await appendFile(path, text.slice(3000));
  await until(async () => (await queue.getWaitingCount()) >= 30);
  await new Promise((r) => setTimeout(r, 300));
  run.child.kill('SIGTERM');
  const result = await run.done;
  expect(result.code).toBe(0);
  const logs = logLines(result.stdout);
  expect(logs.filter((l) => l.msg === 'cdr file ingested')).toHaveLength(1);
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, queued: 30, rejected: 0 });
  expect(await readdir(drop)).toEqual(['cdr_Gen_06_202601010000_1']);
});

it('watches a directory and reads a CDR file with its CMR file that arrives after it', async () => {
  const drop = await mkdtemp(join(dir, 'watch-'));
  const run = cli([drop, '--watch', '--settle', '300ms', '--interval', '50ms', '--cmr-wait', '5s']);
  const interval = syntheticInterval(20, 97, 950_000);
  await writeFile(join(drop, 'cdr_Gen_08_202601010000_1'), renderCdrFile(interval.rows));
  await new Promise((r) => setTimeout(r, 800)); // the CDR file is complete and waits for its twin
  expect(await queue.getWaitingCount()).toBe(0);
  await writeFile(join(drop, 'cmr_Gen_08_202601010000_1'), renderCmrFile(interval.cmr));
  await until(async () => (await queue.getWaitingCount()) >= 20);
  await new Promise((r) => setTimeout(r, 300));
  run.child.kill('SIGTERM');
  const result = await run.done;
  expect(result.code).toBe(0);
  const logs = logLines(result.stdout);
  expect(logs).toContainEqual(expect.objectContaining({ msg: 'cmr file done', role: 'twin', records: interval.cmr.length, unmatched: 0 }));
  expect(logs.at(-1)).toMatchObject({ msg: 'cdr ingest finished', files: 1, cmr_files: 1, queued: 20, cmr_unmatched: 0, rejected_files: 0 });
  const row = interval.rows[3];
  const event = JSON.parse((await redis.hget(`${prefix}:call:${row?.expected?.call_id}`, 'event')) ?? '{}') as Record<string, unknown>;
  expect(event.quality).toMatchObject(interval.quality(row ?? { record: {} }));
});
