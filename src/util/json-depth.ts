/**
 * True when JSON text nests arrays or objects more than `limit` deep, counted without parsing
 * (strings are skipped) and stopping as soon as the limit is passed. Linear in the text, so
 * hostile input is refused before anything recursive (validation, serialisation) sees it.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > limit) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}
