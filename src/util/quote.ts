/** Longest part of a value a message quotes: a damaged file's field can be megabytes long. */
const QUOTED_MAX = 64;

/** `value` as a message quotes it: JSON-quoted, cut to 64 characters with its length said. */
export function quote(value: string): string {
  if (value.length <= QUOTED_MAX) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, QUOTED_MAX))}… (${value.length} characters)`;
}
