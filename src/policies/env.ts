import { formatPath } from '../util/format-path';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** One `${NAME}` replaced: where, with what, and where in the resulting string it sits. */
export interface Substitution {
  name: string;
  value: string;
  path: readonly (string | number)[];
  /** The string after substitution, and the value's place in it. */
  text: string;
  start: number;
  end: number;
}

export interface Substituted {
  value: unknown;
  problems: string[];
  substitutions: Substitution[];
}

/** Replaces `${NAME}` in every string of a parsed config tree; a missing variable is a problem naming the field. */
export function substituteEnv(tree: unknown, env: Readonly<Record<string, string | undefined>>): Substituted {
  const problems: string[] = [];
  const substitutions: Substitution[] = [];
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') return substituteString(node, path);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return node;
  };
  const substituteString = (source: string, path: (string | number)[]): string => {
    let text = '';
    const found: Omit<Substitution, 'text'>[] = [];
    let last = 0;
    for (const match of source.matchAll(REFERENCE)) {
      const name = match[1] ?? '';
      const value = env[name];
      text += source.slice(last, match.index);
      last = match.index + match[0].length;
      if (value === undefined) {
        problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
        continue;
      }
      found.push({ name, value, path, start: text.length, end: text.length + value.length });
      text += value;
    }
    if (found.length === 0 && last === 0) return source;
    text += source.slice(last);
    for (const substitution of found) substitutions.push({ ...substitution, text });
    return text;
  };
  return { value: walk(tree, []), problems, substitutions };
}
