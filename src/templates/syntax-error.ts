/** Handlebars' grammar tokens as a template author writes them. */
const TOKENS: Readonly<Record<string, string>> = {
  EOF: 'the end of the template',
  INVALID: 'something it cannot read',
  COMMENT: 'a comment',
  CONTENT: 'text',
  OPEN: '{{',
  CLOSE: '}}',
  OPEN_UNESCAPED: '{{{',
  CLOSE_UNESCAPED: '}}}',
  OPEN_BLOCK: '{{#',
  OPEN_INVERSE: '{{^',
  OPEN_INVERSE_CHAIN: '{{else …',
  INVERSE: '{{else}}',
  OPEN_ENDBLOCK: '{{/…}}',
  OPEN_RAW_BLOCK: '{{{{',
  CLOSE_RAW_BLOCK: '}}}}',
  END_RAW_BLOCK: '{{{{/…}}}}',
  OPEN_PARTIAL: '{{>',
  OPEN_PARTIAL_BLOCK: '{{#>',
  OPEN_SEXPR: '(',
  CLOSE_SEXPR: ')',
  OPEN_BLOCK_PARAMS: 'as |',
  CLOSE_BLOCK_PARAMS: '|',
  ID: 'a name',
  EQUALS: '=',
  SEP: '"." or "/"',
  STRING: 'a string',
  NUMBER: 'a number',
  BOOLEAN: 'true or false',
  UNDEFINED: 'undefined',
  NULL: 'null',
  DATA: 'an @name',
};

const tokenText = (name: string) => TOKENS[name] ?? name;

/** `'A', 'B', 'C'` → `A, B or C`. */
function tokenList(quoted: string): string {
  const names = [...new Set([...quoted.matchAll(/'([^']+)'/g)].map((m) => tokenText(m[1] ?? '')))];
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

/**
 * Handlebars' error as one line. Its parse errors are a heading, a two-line code frame (the
 * text around the error and a `---^` pointer) and the tokens it expected: the first line alone,
 * "Parse error on line 1:", said nothing. The frame becomes `after "..."` (the text before the
 * pointer) and the token names the text one writes. Without `quote` (the template holds a
 * secret) the frame is left out.
 */
export function templateErrorMessage(error: unknown, quote = true): string {
  const message = error instanceof Error ? error.message : String(error);
  // "if doesn't match each - 1:3": the position is the opening block's.
  const mismatch = /^(.+) doesn't match (.+) - (\d+):\d+$/.exec(message);
  if (mismatch) return `{{/${mismatch[2]}}} does not close {{#${mismatch[1]}}}, opened on line ${mismatch[3]}`;
  const [heading = '', frame = '', pointer = '', ...details] = message.split('\n');
  if (!pointer.endsWith('^')) return heading;
  const before = frame.slice(0, pointer.length - 1).trim();
  const where = `${heading.replace(/[.:]\s*.*$/, '')}${before && quote ? ` after "${before}"` : ''}`;
  const expecting = /^Expecting (.*), got '([^']+)'$/.exec(details.join(' '));
  // `{"name": {{ json x }}}`: the "}" that closes the JSON reads as part of "}}}".
  const braces = expecting?.[1]?.includes("'CLOSE'") && /^CLOSE_(UNESCAPED|RAW_BLOCK)$/.test(expecting[2] ?? '') ? ' (to write "}" right after "}}", add a space: "}} }")' : '';
  if (expecting) return `${where}: expected ${tokenList(expecting[1] ?? '')}, got ${tokenText(expecting[2] ?? '')}${braces}`;
  // A lexical error has its reason in the heading: "Lexical error on line 1. Unrecognized text."
  const reason = /^[^.:]*[.:]\s*(.+?)\.?$/.exec(heading)?.[1];
  return `${where}: ${reason ? reason.charAt(0).toLowerCase() + reason.slice(1) : details.join(' ') || 'cannot be read'}`;
}
