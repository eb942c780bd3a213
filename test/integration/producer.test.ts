import { createProducer } from '../../src/producer';
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
});
