/** What kind of JSON value `value` is, as a message names it: `null`, `array`, `object`, `string`... */
export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}
