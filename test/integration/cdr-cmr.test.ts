import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expandPaths } from '../../src/cdr/files';
import { fileIdentity } from '../../src/cdr/identity';
import { ingestFiles, type RunOptions } from '../../src/cdr/ingest';
import { FileLedger } from '../../src/cdr/ledger';
import { CDR_TEST_POLICIES } from '../helpers/cdr-generator';
import { startHarness } from '../helpers/harness';

const SAMPLES = resolve(__dirname, '../../../shared/cdr-samples');

let harness: Awaited<ReturnType<typeof startHarness>>;
let dir: string;
let rejections: string[];

function options(extra: Partial<RunOptions> = {}): RunOptions {
  const { runtime, prefix } = harness;
  return {
    enqueue: (events) => runtime.producer.enqueueSerialized(events),
    ledger: new FileLedger(runtime.redis, prefix),
    batchSize: 7,
    listener: { rejectedRecord: (file, line, reason) => rejections.push(`${file}:${line}: ${reason}`) },
    ...extra,
  };
}

beforeAll(async () => {
  harness = await startHarness(__filename, CDR_TEST_POLICIES, { worker: false });
});
afterAll(() => harness.stop());
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-cmr-'));
  rejections = [];
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('the real CUCM CDR and CMR files of one interval', () => {
  it('named as CUCM names them in one directory: the CMR file is read with its CDR file, both legs joined, both done', async () => {
    const name = 'cucmOHSUtest_2_202504181632_1';
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cdr.txt'), join(dir, `cdr_${name}`));
    await copyFile(join(SAMPLES, 'sieteunoseis-cisco-cucm-cdr/cmr.txt'), join(dir, `cmr_${name}`));
    const ended: string[] = [];
    const { files } = await expandPaths([dir]);
    const summary = await ingestFiles(files, { ...options(), run: { fileEnd: (path, outcome) => ended.push(`${path.slice(dir.length + 1)} ${outcome.kind}`) } });
    expect(summary).toMatchObject({ files: 1, cmr_files: 1, rejected_files: 0, unfinished: 0, records: 3, queued: 3, rejected: 0, quality_joined: 1, cmr_unmatched: 0 });
    expect(ended).toEqual([`cdr_${name} ingested`, `cmr_${name} cmr`]);
    expect(rejections).toEqual([]);
    expect(await readdir(dir)).toEqual([`cdr_${name}`, `cmr_${name}`]);
    const call = await harness.get('cdr-2-25447-47874239-47874240');
    expect(call?.event.quality).toMatchObject({
      orig: { device_name: 'SEPCC7F750586B7', directory_number: '5033466594', packets_sent: 559, packets_lost: 0, jitter_ms: 0, latency_ms: 1, vq: { CCR: 0, VoRxCodec: 'G.711 u-la' }, mos: null, cmr: { pkid: '60e07196-5c4f-407d-8c0b-01c8ebf8e164' } },
      dest: { device_name: 'SEPCC8E7148AD29', packets_sent: 555, vq: { CCR: 0.0011, ICRmx: 0.0034 } },
    });
    expect((await harness.get('cdr-2-25448-47874243-47874250'))?.event.quality).toEqual({ orig: null, dest: null });
    const ledger = new FileLedger(harness.runtime.redis, harness.prefix);
    expect(await ledger.done(await fileIdentity(join(dir, `cdr_${name}`)))).toMatchObject({ records: 3, quality_joined: 1, cmr_file: `cmr_${name}` });
    expect(await ledger.done(await fileIdentity(join(dir, `cmr_${name}`)))).toMatchObject({ kind: 'cmr', records: 2, joined: 2, unmatched: 0 });
    expect(await ingestFiles(files, options())).toMatchObject({ files: 0, cmr_files: 0, already_done: 2, queued: 0 });
  });

});
