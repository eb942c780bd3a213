import { FINISH_ARGS } from './scripts';

/** Calls per finish script at most: bounds its arguments and the time it holds Redis. */
const MAX_CALLS = 100;

interface Finish {
  key: string;
  lock: string;
  args: (string | number)[];
  resolve: (code: number) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the finishes a worker makes while its event loop handles one round of I/O (the
 * answers of several calls' last apps, read together) and sends them to Redis as one FINISH
 * script: the script's fixed cost and each index's write are paid once for all of them instead
 * of once per call. A lone finish waits only for the end of that round (setImmediate).
 */
export class FinishBatch {
  private pending: Finish[] = [];

  constructor(private readonly send: (keys: string[], args: (string | number)[]) => Promise<number[]>) {}

  /** Resolves with the call's own code from FINISH (1, 0 or 2); rejects when the script fails. */
  add(key: string, lock: string, args: (string | number)[]): Promise<number> {
    if (args.length !== FINISH_ARGS) throw new Error(`FinishBatch: ${args.length} values for a call, FINISH takes ${FINISH_ARGS}`);
    return new Promise((resolve, reject) => {
      if (this.pending.push({ key, lock, args, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    for (let i = 0; i < batch.length; i += MAX_CALLS) void this.sendSome(batch.slice(i, i + MAX_CALLS));
  }

  private async sendSome(finishes: Finish[]): Promise<void> {
    try {
      const keys: string[] = [];
      const args: (string | number)[] = [];
      for (const f of finishes) {
        keys.push(f.key, f.lock);
        for (const value of f.args) args.push(value);
      }
      const codes = await this.send(keys, args);
      finishes.forEach((f, i) => f.resolve(Number(codes[i])));
    } catch (error) {
      for (const f of finishes) f.reject(error);
    }
  }
}
