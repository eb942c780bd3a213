/** Edits (insert, delete, replace one character) that turn `a` into `b` (Levenshtein distance). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known name `name` is most likely a misspelling of: the closest within `maxEdits` (one
 * edit per 4 characters, so a short name of its own, `ip`, is no misspelling of `cdr`), or
 * undefined when `name` is itself known or nothing is that close.
 */
export function misspeltName(name: string, known: readonly string[], maxEdits = 2): string | undefined {
  if (known.includes(name)) return undefined;
  const allowed = Math.min(maxEdits, Math.floor(name.length / 4));
  let best: { name: string; edits: number } | undefined;
  for (const candidate of known) {
    const edits = editDistance(name, candidate);
    if (edits <= allowed && (!best || edits < best.edits)) best = { name: candidate, edits };
  }
  return best?.name;
}
