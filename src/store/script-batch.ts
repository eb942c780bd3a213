/** Calls per script at most: bounds its arguments and the time it holds Redis. */
const MAX_CALLS = 100;

interface Pending {
  keys: readonly string[];
  args: readonly (string | number)[];
  resolve: (answer: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the calls a process makes of one store script while its event loop handles one round of
 * I/O (the answers of several calls' last apps, read together) and sends them to Redis as one
 * script, each call's keys and values after the last's: the script's fixed cost and each index's
 * write are paid once for all of them instead of once per call (a finish, a real-time save). A
 * lone call waits only for the end of that round (setImmediate). Two calls on one key go in
 * separate scripts, in order: a script moves each call in the indexes once.
 */
export class ScriptBatch {
  private pending: Pending[] = [];
  private keysPending = new Set<string>();

  constructor(
    private readonly send: (keys: string[], args: (string | number)[]) => Promise<unknown[]>,
    /** Keys and (when fixed) values each call gives the script. */
    private readonly shape: { keys: number; args?: number },
  ) {}

  /** Resolves with the call's own element of the script's answer; rejects when the script fails. */
  add(keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (keys.length !== this.shape.keys) throw new Error(`ScriptBatch: ${keys.length} keys for a call, the script takes ${this.shape.keys}`);
    if (this.shape.args !== undefined && args.length !== this.shape.args) throw new Error(`ScriptBatch: ${args.length} values for a call, the script takes ${this.shape.args}`);
    if (this.keysPending.has(keys[0]!)) this.flush();
    return new Promise((resolve, reject) => {
      this.keysPending.add(keys[0]!);
      if (this.pending.push({ keys, args, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.keysPending = new Set();
    for (let i = 0; i < batch.length; i += MAX_CALLS) void this.sendSome(batch.slice(i, i + MAX_CALLS));
  }

  private async sendSome(calls: Pending[]): Promise<void> {
    try {
      const keys: string[] = [];
      const args: (string | number)[] = [];
      for (const call of calls) {
        for (const key of call.keys) keys.push(key);
        for (const value of call.args) args.push(value);
      }
      const answers = await this.send(keys, args);
      calls.forEach((call, i) => call.resolve(answers[i]));
    } catch (error) {
      for (const call of calls) call.reject(error);
    }
  }
}
