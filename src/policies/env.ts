import { formatPath } from '../util/format-path';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export interface Substituted {
  value: unknown;
  problems: string[];
  /** Every value taken from the environment: treated as a secret everywhere. */
  secrets: string[];
}

/** Replaces `${NAME}` in every string of a parsed config tree; a missing variable is a problem naming the field. */
export function substituteEnv(tree: unknown, env: Readonly<Record<string, string | undefined>>): Substituted {
  const problems: string[] = [];
  const secrets = new Set<string>();
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') {
      return node.replace(REFERENCE, (_, name: string) => {
        const value = env[name];
        if (value === undefined) {
          problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
          return '';
        }
        if (value !== '') secrets.add(value);
        return value;
      });
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return node;
  };
  return { value: walk(tree, []), problems, secrets: [...secrets] };
}
