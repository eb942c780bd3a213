import { chargeInLoop } from './budget';

/**
 * `String(value)` as Handlebars inserts it, except that call data such as `{"toString": ""}`
 * (an object whose own toString is not a function) renders `[object Object]` instead of throwing.
 */
export function textOf(value: unknown): string {
  if (typeof value !== 'object') return String(value);
  let out: string;
  try {
    out = String(value);
  } catch {
    out = Object.prototype.toString.call(value);
  }
  // A list's text joins all of it: work a helper inside a loop may do on each step.
  chargeInLoop(out.length);
  return out;
}

/** Text of a value as the engine inserts it; null and undefined render nothing. */
export function text(value: unknown): string {
  return value === undefined || value === null ? '' : textOf(value);
}
