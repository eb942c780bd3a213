import { ScriptBatch } from '../../src/store/script-batch';
import { FINISH_ARGS } from '../../src/store/scripts';

const argsOf = (id: string) => Array.from({ length: FINISH_ARGS }, (_, i) => `${id}-${i}`);
const finishShape = { keys: 2, args: FINISH_ARGS };

describe('ScriptBatch', () => {
  it('sends the calls of one round of the event loop as one script, and answers each its own element', async () => {
    const sent: [string[], (string | number)[]][] = [];
    const batch = new ScriptBatch(async (keys, args) => {
      sent.push([keys, args]);
      return keys.filter((_, i) => i % 2 === 0).map((key) => (key === 'call:b' ? 0 : 1));
    }, finishShape);
    const codes = await Promise.all(['a', 'b', 'c'].map((id) => batch.add([`call:${id}`, `lock:${id}`], argsOf(id))));
    expect(codes).toEqual([1, 0, 1]);
    expect(sent).toHaveLength(1);
    expect(sent[0]![0]).toEqual(['call:a', 'lock:a', 'call:b', 'lock:b', 'call:c', 'lock:c']);
    expect(sent[0]![1]).toEqual([...argsOf('a'), ...argsOf('b'), ...argsOf('c')]);
    // A later round is a script of its own.
    await batch.add(['call:d', 'lock:d'], argsOf('d'));
    expect(sent).toHaveLength(2);
  });

  it('takes calls with values of any length when the script reads their count itself', async () => {
    const sent: (string | number)[][] = [];
    const batch = new ScriptBatch(async (keys, args) => {
      sent.push(args);
      return keys.map(() => 1);
    }, { keys: 1 });
    await Promise.all([batch.add(['a'], [1, 'x']), batch.add(['b'], [2, 'y', 'z'])]);
    expect(sent).toEqual([[1, 'x', 2, 'y', 'z']]);
  });

  it('sends two calls on one key in separate scripts, in the order they came', async () => {
    const sent: string[][] = [];
    const batch = new ScriptBatch(async (keys) => {
      sent.push(keys);
      return keys.map(() => 1);
    }, { keys: 1 });
    await Promise.all([batch.add(['a'], []), batch.add(['b'], []), batch.add(['a'], []), batch.add(['c'], [])]);
    expect(sent).toEqual([['a', 'b'], ['a', 'c']]);
  });

  it('fails every call of a script that fails, and only those', async () => {
    let fail = true;
    const batch = new ScriptBatch(async (keys) => {
      if (fail) throw new Error('OOM command not allowed');
      return keys.filter((_, i) => i % 2 === 0).map(() => 1);
    }, finishShape);
    const failed = await Promise.allSettled(['a', 'b'].map((id) => batch.add([`call:${id}`, `lock:${id}`], argsOf(id))));
    expect(failed.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((failed[0] as PromiseRejectedResult).reason.message).toBe('OOM command not allowed');
    fail = false;
    await expect(batch.add(['call:c', 'lock:c'], argsOf('c'))).resolves.toBe(1);
  });

  it('splits a large round into scripts of at most 100 calls', async () => {
    const sizes: number[] = [];
    const batch = new ScriptBatch(async (keys) => {
      sizes.push(keys.length / 2);
      return keys.filter((_, i) => i % 2 === 0).map(() => 1);
    }, finishShape);
    await Promise.all(Array.from({ length: 250 }, (_, i) => batch.add([`call:${i}`, `lock:${i}`], argsOf(String(i)))));
    expect(sizes).toEqual([100, 100, 50]);
  });

  it('refuses a call with the wrong number of keys or values', () => {
    const batch = new ScriptBatch(async () => [], finishShape);
    expect(() => batch.add(['call:a', 'lock:a'], ['too', 'few'])).toThrow(/2 values for a call/);
    expect(() => batch.add(['call:a'], argsOf('a'))).toThrow(/1 keys for a call/);
  });
});
