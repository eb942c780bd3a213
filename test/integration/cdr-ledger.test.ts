import { FileLedger, type DoneEntry } from '../../src/cdr/ledger';
import { connectRedis, deletePrefix, uniquePrefix } from '../helpers/redis';

describe('the CDR file ledger', () => {
  const prefix = uniquePrefix(__filename);
  const redis = connectRedis();
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });
  const entry = (queued: number, duplicates: number): DoneEntry => ({ done_at: new Date().toISOString(), records: 3000, queued, duplicates, rejected: 0, skipped: 0, quality_joined: 0 });

  it('keeps the first done entry: a second ingester of the same file found only duplicates', async () => {
    const ledger = new FileLedger(redis, prefix);
    await ledger.saveCheckpoint('cdr_a:10:x', { line: 5, offset: 100 });
    await ledger.markDone('cdr_a:10:x', entry(3000, 0), [{ identity: 'cmr_a:5:y', entry: { done_at: '', kind: 'cmr', records: 1, joined: 1, unmatched: 0, rejected: 0, skipped: 0 } }]);
    await ledger.markDone('cdr_a:10:x', entry(0, 3000), [{ identity: 'cmr_a:5:y', entry: { done_at: '', kind: 'cmr', records: 1, joined: 0, unmatched: 1, rejected: 0, skipped: 0 } }]);
    expect(await ledger.done('cdr_a:10:x')).toMatchObject({ queued: 3000, duplicates: 0 });
    expect(await ledger.done('cmr_a:5:y')).toMatchObject({ joined: 1 });
    expect(await ledger.checkpoint('cdr_a:10:x')).toBeUndefined();
  });
});
