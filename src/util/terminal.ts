/**
 * Call data (numbers, names, a receiver's answer) as a terminal may show it: control characters,
 * line separators and bidirectional overrides written as `\u` escapes (`\u001b`), so none can move the cursor,
 * set the window title, write the clipboard (OSC 52), reorder what is shown or fake a table line.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// C0 controls, DEL, C1 controls, U+2028/2029, and the bidi embeddings, overrides and isolates.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
