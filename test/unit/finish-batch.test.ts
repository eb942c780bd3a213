import { FinishBatch } from '../../src/store/finish-batch';
import { FINISH_ARGS } from '../../src/store/scripts';

const argsOf = (id: string) => Array.from({ length: FINISH_ARGS }, (_, i) => `${id}-${i}`);

describe('FinishBatch', () => {
  it('sends the finishes of one round of the event loop as one script, and answers each its own code', async () => {
    const sent: [string[], (string | number)[]][] = [];
    const batch = new FinishBatch(async (keys, args) => {
      sent.push([keys, args]);
      return keys.filter((_, i) => i % 2 === 0).map((key) => (key === 'call:b' ? 0 : 1));
    });
    const codes = await Promise.all(['a', 'b', 'c'].map((id) => batch.add(`call:${id}`, `lock:${id}`, argsOf(id))));
    expect(codes).toEqual([1, 0, 1]);
    expect(sent).toHaveLength(1);
    expect(sent[0]![0]).toEqual(['call:a', 'lock:a', 'call:b', 'lock:b', 'call:c', 'lock:c']);
    expect(sent[0]![1]).toEqual([...argsOf('a'), ...argsOf('b'), ...argsOf('c')]);
    // A later round is a script of its own.
    await batch.add('call:d', 'lock:d', argsOf('d'));
    expect(sent).toHaveLength(2);
  });

  it('fails every finish of a script that fails, and only those', async () => {
    let fail = true;
    const batch = new FinishBatch(async (keys) => {
      if (fail) throw new Error('OOM command not allowed');
      return keys.filter((_, i) => i % 2 === 0).map(() => 1);
    });
    const failed = await Promise.allSettled(['a', 'b'].map((id) => batch.add(`call:${id}`, `lock:${id}`, argsOf(id))));
    expect(failed.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((failed[0] as PromiseRejectedResult).reason.message).toBe('OOM command not allowed');
    fail = false;
    await expect(batch.add('call:c', 'lock:c', argsOf('c'))).resolves.toBe(1);
  });

  it('splits a large round into scripts of at most 100 calls', async () => {
    const sizes: number[] = [];
    const batch = new FinishBatch(async (keys) => {
      sizes.push(keys.length / 2);
      return keys.filter((_, i) => i % 2 === 0).map(() => 1);
    });
    await Promise.all(Array.from({ length: 250 }, (_, i) => batch.add(`call:${i}`, `lock:${i}`, argsOf(String(i)))));
    expect(sizes).toEqual([100, 100, 50]);
  });

  it('refuses a finish with the wrong number of values', () => {
    const batch = new FinishBatch(async () => []);
    expect(() => batch.add('call:a', 'lock:a', ['too', 'few'])).toThrow(/2 values for a call/);
  });
});
