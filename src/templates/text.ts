/**
 * `String(value)` as Handlebars inserts it, except that call data such as `{"toString": ""}`
 * (an object whose own toString is not a function) renders `[object Object]` instead of throwing.
 */
export function textOf(value: unknown): string {
  if (typeof value !== 'object') return String(value);
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Text of a value as the engine inserts it; null and undefined render nothing. */
export function text(value: unknown): string {
  return value === undefined || value === null ? '' : textOf(value);
}
