import { CallhookEventError, createProducer } from '../../src/producer';
import { freePort } from '../helpers/ports';
import { deletePrefix, connectRedis, redisUrl, uniquePrefix } from '../helpers/redis';

describe('the in-process producer', () => {
  it('queues once per call_id, and closes', async () => {
    const prefix = uniquePrefix(__filename);
    const producer = createProducer({ redisUrl: redisUrl(), prefix });
    const event = { call_id: `p-${Date.now()}`, calling_number: '5550100', called_number: '1000' };
    expect(await producer.send(event)).toMatchObject({ status: 'queued' });
    expect(await producer.send(event)).toMatchObject({ status: 'duplicate' });
    await producer.close();
    const redis = connectRedis();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('with Redis unreachable: close() ends the waiting sends, and errors go to onRedisError, not stderr', async () => {
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const errors: Error[] = [];
    const producer = createProducer({ redisUrl: `redis://127.0.0.1:${await freePort()}`, prefix: 'unreachable', onRedisError: (error) => errors.push(error) });
    const sent = producer.send({ calling_number: '1', called_number: '2' });
    sent.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    await producer.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(sent).rejects.toThrow(/closed while Redis was unreachable; this send may not have been queued/);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.message).toMatch(/ECONNREFUSED/);
    expect(printed).not.toHaveBeenCalled();
    printed.mockRestore();
  });

  it('refuses what POST /v1/calls refuses: a policy it does not know (given `policies`), a batch over 1000; nothing is queued', async () => {
    const prefix = uniquePrefix(__filename);
    const redis = connectRedis();
    const producer = createProducer({ redisUrl: redisUrl(), prefix, policies: ['sales'] });
    // Without `policies` the producer cannot know them: the call is queued (and ends unmatched).
    const unchecked = createProducer({ redisUrl: redisUrl(), prefix });
    try {
      const good = { call_id: 'p-good', calling_number: '5550100', called_number: '1000', policy: 'sales' };
      const refused = await producer.sendBatch([good, { calling_number: '1', called_number: '2', policy: 'nope' }]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(CallhookEventError);
      expect(refused).toMatchObject({ code: 'CALLHOOK_POLICY_NOT_FOUND', problems: ['[1].policy: no policy "nope"'] });
      await expect(producer.send({ calling_number: '1', called_number: '2', policy: 'nope' })).rejects.toMatchObject({ code: 'CALLHOOK_POLICY_NOT_FOUND', problems: ['policy: no policy "nope"'] });
      const many = Array.from({ length: 1001 }, (_, i) => ({ call_id: `p-many-${i}`, calling_number: '1', called_number: '2' }));
      await expect(producer.sendBatch(many)).rejects.toMatchObject({ name: 'CallhookEventError', code: 'CALLHOOK_EVENT_INVALID', problems: ['(root): a batch holds at most 1000 events'] });
      expect(await redis.keys(`${prefix}:*`)).toEqual([]);

      expect(await producer.sendBatch(many.slice(0, 1000))).toHaveLength(1000);
      expect(await producer.send(good)).toEqual({ call_id: good.call_id, status: 'queued' });
      expect(await unchecked.send({ call_id: 'p-unchecked', calling_number: '1', called_number: '2', policy: 'nope' })).toEqual({ call_id: 'p-unchecked', status: 'queued' });
    } finally {
      await producer.close();
      await unchecked.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
