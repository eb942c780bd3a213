/** One CSV line split into fields, or why it cannot be split. */
export type CsvResult = { ok: true; fields: string[] } | { ok: false; reason: string };

const QUOTE = 34; // "
const COMMA = 44; // ,

/**
 * Splits one line of a CUCM flat file. CUCM quotes strings ("..."), leaves numbers bare and
 * writes empty fields as `""` or nothing. A quote inside a quoted field is doubled (`""`).
 * A bare field keeps any quote it contains literally, so odd-but-harmless quoting still parses;
 * only an unterminated or badly closed quoted field is an error (typically a truncated line).
 * Records never span lines in CUCM output, so this works a line at a time.
 */
export function parseCsvLine(line: string): CsvResult {
  const fields: string[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    if (i < n && line.charCodeAt(i) === QUOTE) {
      let value = '';
      let start = i + 1;
      let j = start;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) return { ok: false, reason: `unterminated quoted field ${fields.length + 1}` };
        if (line.charCodeAt(q + 1) === QUOTE) {
          value += line.slice(start, q + 1);
          start = j = q + 2;
          continue;
        }
        value += line.slice(start, q);
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i === n) return { ok: true, fields };
      if (line.charCodeAt(i) !== COMMA) return { ok: false, reason: `unexpected character after closing quote of field ${fields.length}` };
      i += 1;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        fields.push(line.slice(i));
        return { ok: true, fields };
      }
      fields.push(line.slice(i, c));
      i = c + 1;
    }
  }
}
