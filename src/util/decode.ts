/** decodeURIComponent, or the text as it is when its escapes are malformed (`%E0%A4%A`). */
export function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
