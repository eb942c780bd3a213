import { startHarness } from '../helpers/harness';
import { uniquePrefix } from '../helpers/redis';
import { Receiver } from '../helpers/receiver';

/**
 * A policies file changed while calls wait: a worker without the call's policy (renamed,
 * removed, or an older file during a rolling upgrade) must not record the call `unmatched` and
 * drop its remaining apps. It leaves the call to a worker that has the policy.
 */
describe('a call whose policy the worker does not have', () => {
  const prefix = uniquePrefix(__filename);
  let receiver: Receiver;
  const withSales = () => `
policies:
  - id: sales
    match: { called_number: "^2" }
    apps:
      - { name: CRM, slug: crm, url: "${receiver.url}/crm" }
      - { name: Ticket, slug: ticket, method: POST, url: "${receiver.url}/ticket", retry_delay: 1s, retry_jitter: 0 }
`;
  const renamed = () => withSales().replace('id: sales', 'id: sales-line');

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/crm', () => ({ status: 200, body: { name: 'John' } }));
    receiver.sequence('/ticket', [{ status: 503 }, { status: 201, body: { ticket: 'T-1' } }]);
  });
  afterAll(() => receiver.stop());

  // Each test stops its harnesses as it goes; one that fails midway leaves them here.
  const running: Awaited<ReturnType<typeof startHarness>>[] = [];
  const start = async (yaml: string, worker = true) => {
    const h = await startHarness(__filename, yaml, { prefix, worker });
    running.push(h);
    return h;
  };
  const stop = async (h: (typeof running)[number], keepKeys = true) => {
    running.splice(running.indexOf(h), 1);
    await h.stop({ keepKeys });
  };
  afterEach(async () => {
    for (const h of running.splice(0)) await h.stop();
  });

  it('is left queued for a worker that has the policy, which finishes it without sending its done apps again', async () => {
    const first = await start(withSales());
    expect((await first.post({ call_id: 'pc-1', calling_number: '1000', called_number: '2000' })).status).toBe(202);
    await receiver.waitFor(1, '/ticket'); // crm succeeded, ticket answered 503: its retry waits 1 s
    await stop(first);

    const old = await start(renamed());
    const job = async () => (await old.runtime.queue.getJob('pc-1'))!;
    for (let i = 0; i < 200 && !(await job()).failedReason; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await job()).failedReason).toBe('policy "sales" is not in this worker\'s policies (renamed or removed while the call waited?)');
    expect(await old.get('pc-1')).toMatchObject({ status: 'running', policy: 'sales', app_data: { crm: { status: 'success' } } });
    await stop(old);

    const fixed = await start(withSales());
    const record = await fixed.waitForCall('pc-1', 20_000);
    expect(record).toMatchObject({ status: 'completed', policy: 'sales', app_data: { crm: { status: 'success' }, ticket: { status: 'success' } } });
    expect(receiver.to('/crm')).toHaveLength(1);
    await stop(fixed, false);
  }, 40_000);

  it('a call naming a policy the worker lacks is not recorded unmatched either', async () => {
    const api = await start(withSales(), false);
    const worker = await start(renamed());
    expect((await api.post({ call_id: 'pc-2', calling_number: '1000', called_number: '3000', policy: 'sales' })).status).toBe(202);
    const job = async () => (await worker.runtime.queue.getJob('pc-2'))!;
    for (let i = 0; i < 200 && !(await job()).failedReason; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await job()).failedReason).toMatch(/^policy "sales" is not in this worker's policies/);
    expect((await api.get('pc-2'))?.status).not.toBe('unmatched');
    await stop(worker);
    await stop(api, false);
  });
  it('a call given up for a policy the worker lacked replays once the policy is back', async () => {
    const api = await start(withSales(), false);
    expect((await api.post({ call_id: 'pc-3', calling_number: '1000', called_number: '3000', policy: 'sales' })).status).toBe(202);
    // As the worker's 'failed' handler leaves it after BullMQ's 20 tries: no policy on the record.
    await (await api.runtime.queue.getJob('pc-3'))!.remove();
    await api.runtime.store.checkpoint('pc-3', null).finish('failed');
    expect(await api.get('pc-3')).toMatchObject({ status: 'failed', policy: null });
    expect(await api.request('POST', '/v1/calls/pc-3/replay')).toMatchObject({ status: 202, body: { replayed: ['crm', 'ticket'] } });
    await start(withSales());
    expect(await api.waitForCall('pc-3', 20_000)).toMatchObject({ status: 'completed', policy: 'sales' });
  }, 30_000);
});
