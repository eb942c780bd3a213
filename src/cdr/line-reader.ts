import { createReadStream } from 'node:fs';

export interface Line {
  /** The line without its line ending (LF or CRLF). */
  text: string;
  /** 1-based line number in the file. */
  number: number;
  /** Byte offset just past this line's ending: where the next line starts. */
  next: number;
  /** False for a last line that has no line ending. */
  terminated: boolean;
  /** True when the line was longer than `maxLineBytes`; `text` is then empty. */
  tooLong?: boolean;
}

export interface ReadFrom {
  /** Byte offset to start reading at (the start of a line). @defaultValue 0 */
  offset?: number;
  /** Number of the line that starts at `offset`. @defaultValue 1 */
  line?: number;
  /** Read size per chunk in bytes. @defaultValue 1 MiB */
  chunkBytes?: number;
  /** Longer lines are reported as `tooLong` instead of being held in memory. @defaultValue 1 MiB */
  maxLineBytes?: number;
}

const LF = 10;
const CR = 13;

/**
 * Streams a file line by line with byte offsets, so a reader can checkpoint and later resume
 * mid-file with a seek. Memory is one chunk plus the longest line, whatever the file size.
 */
export async function* readLines(path: string, from: ReadFrom = {}): AsyncGenerator<Line> {
  let offset = from.offset ?? 0;
  let number = from.line ?? 1;
  let carry: Buffer | undefined;
  let skipped = 0; // bytes of an over-long line dropped so far
  const maxLine = from.maxLineBytes ?? 1 << 20;
  const stream = createReadStream(path, { start: offset, highWaterMark: from.chunkBytes ?? 1 << 20 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let lf = buf.indexOf(LF, start); lf >= 0; lf = buf.indexOf(LF, start)) {
      const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
      offset += lf + 1 - start + skipped;
      if (skipped > 0 || end - start > maxLine) yield { text: '', number: number++, next: offset, terminated: true, tooLong: true };
      else yield { text: buf.toString('utf8', start, end), number: number++, next: offset, terminated: true };
      skipped = 0;
      start = lf + 1;
    }
    carry = start < buf.length ? buf.subarray(start) : undefined;
    if (carry && carry.length > maxLine) {
      skipped += carry.length;
      carry = undefined;
    }
  }
  if (skipped > 0) {
    yield { text: '', number, next: offset + skipped, terminated: false, tooLong: true };
  } else if (carry && carry.length > 0) {
    const end = carry[carry.length - 1] === CR ? carry.length - 1 : carry.length;
    yield { text: carry.toString('utf8', 0, end), number, next: offset + carry.length, terminated: false };
  }
}

/** A line with nothing but spaces or tabs: no record (an editor's stray line), skipped like an empty one. */
export function isBlank(text: string): boolean {
  return /^[ \t]*$/.test(text);
}
