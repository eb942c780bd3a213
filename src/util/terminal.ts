/**
 * Call data (numbers, names, a receiver's answer) as a terminal may show it: control characters,
 * line separators and bidirectional overrides written as `\u` escapes (`\u001b`), so none can move the cursor,
 * set the window title, write the clipboard (OSC 52), reorder what is shown or fake a table line.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, unicodeEscape);
}

// C0 controls, DEL, C1 controls, U+2028/2029, and the bidi embeddings, overrides and isolates.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** A character as a `\u` escape (JSON's own, and readable on a terminal). */
function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Whether data written to `stream` lands on a terminal, where a person reads it (and call data
 * could drive it), rather than in a file or a pipe, where it must stay exact.
 */
export function isTerminal(stream: { readonly isTTY?: boolean | undefined }): boolean {
  return stream.isTTY === true;
}

/**
 * JSON text as a terminal may show it. JSON.stringify escapes C0 controls but writes C1 controls
 * (U+009B is a CSI on many terminals), U+2028/2029 and bidi overrides as they are. Outside
 * strings JSON holds none of them, and inside a string `\u009b` is JSON's own escape: the line
 * still parses to the same value.
 */
export function printableJson(json: string): string {
  // C0 controls are left alone: inside strings JSON.stringify has escaped them already, and
  // outside them they are the line breaks of pretty-printed JSON.
  return json.replace(UNPRINTABLE_IN_JSON, unicodeEscape);
}

const UNPRINTABLE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON text as `stream` should get it: escaped for a terminal (printableJson), exact for a file or a pipe. */
export function jsonFor(stream: { readonly isTTY?: boolean | undefined }): (json: string) => string {
  return isTerminal(stream) ? printableJson : (json) => json;
}
