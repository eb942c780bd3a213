import { formatPath } from '../util/format-path';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * What a credential (auth, signing) written as a botched `${NAME}` should say instead: such a
 * value is sent as written, and Call Test shows it redacted, so the mistake stays hidden. Only
 * values that are clearly meant as references are refused: a whole `$NAME` in capitals,
 * `${ NAME }` or `${NAME-X}`, a whole `{{ ... }}` (no credential is a template), or a `${` that
 * starts no `${NAME}`. A `$` anywhere else is a literal `$`; there is no escape for `${`, so a
 * secret that holds one comes from an environment variable (its value is never read again).
 */
export function botchedReferenceProblem(value: string): string | undefined {
  const trimmed = value.trim();
  const named =
    /^\$([A-Z_][A-Z0-9_-]*)$/.exec(trimmed)?.[1] ??
    /^\$\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}$/.exec(trimmed)?.[1] ??
    /^\{\{\s*(?:env\.)?([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$/.exec(trimmed)?.[1];
  const reference = named && `\${${named.replaceAll('-', '_')}}`;
  if (reference && reference !== value) return `"${trimmed}" would be sent as written, not read from the environment: write "${reference}"`;
  if (/^\{\{.*\}\}$/s.test(trimmed)) return 'is not a template: to take it from the environment write "${NAME}"';
  if (/\$\{(?![A-Za-z_][A-Za-z0-9_]*\})/.test(value)) {
    return 'holds a "${" that is no ${NAME} reference (letters, digits and "_", then "}"), so it would be sent as written; a secret that really holds "${" comes from an environment variable: write "${NAME}"';
  }
  return undefined;
}

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
  /** The fields (`policies[0].apps[1].auth.token`) that name a variable that is not set: what the schema sees there is not what the file means. */
  unset: string[];
}

/** App fields that are one template each (headers, query and body are handled in templateKind). */
const APP_TEMPLATES = new Set(['url', 'when', 'message', 'rate_limit_key']);
const CURRI_TEMPLATES = new Set(['action', 'calling_name', 'calling_number', 'called_number', 'divert_to', 'greeting']);

/**
 * Whether the string at `path` is compiled as a template: `json` when it is a body written as
 * JSON text, whose strings become templates once the JSON is parsed.
 */
function templateKind(tree: unknown, path: readonly (string | number)[]): 'template' | 'json' | undefined {
  if (path[0] !== 'policies') return undefined;
  if (path[2] === 'curri') return path.length === 4 && CURRI_TEMPLATES.has(String(path[3])) ? 'template' : undefined;
  if (path[2] !== 'apps') return undefined;
  const [field, key, part] = path.slice(4);
  if (path.length === 5 && APP_TEMPLATES.has(String(field))) return 'template';
  // A value in the map form (`X-Name: ...`) or the list form (`[{key, value}]`); never a name.
  if (field === 'headers' || field === 'query') return (path.length === 6 && typeof key === 'string') || (path.length === 7 && part === 'value') ? 'template' : undefined;
  if (field !== 'body') return undefined;
  if (path.length > 5) return 'template'; // a string in a YAML body, or a form field
  const app = (tree as { policies?: { apps?: { body_format?: unknown }[] }[] }).policies?.[path[1] as number]?.apps?.[path[3] as number];
  return app?.body_format === 'text' ? 'template' : 'json';
}

/**
 * Handlebars source that renders `value` as it is, written after `before`: a `${NAME}` brings
 * a value, never template source (a secret holding "{{" was sent altered, or failed to load
 * with part of it in the error). `\{{` renders "{{"; backslashes right before it, or at the
 * value's end (they would escape the next "{{"), are closed off by a comment (`\\{{!}}` renders
 * one backslash); a "{" next to another "{" is kept apart by a space that `{{~!}}` strips.
 * In JSON text a backslash is JSON's escape, so the value's own are left alone and the one
 * added is written as JSON writes it.
 */
function literalSource(value: string, before: string, json: boolean): string {
  let out = json ? value.replaceAll('{{', '\\\\{{') : value.replace(/(\\*)\{\{/g, (_, slashes: string) => `${slashes ? `${slashes}\\{{!}}` : ''}\\{{`);
  if (!json && out.endsWith('\\')) out += '\\{{!}}';
  if (!json && before.endsWith('\\') && out.startsWith('\\{{')) out = `\\{{!}}${out}`;
  if (out.endsWith('{')) out += ' {{~!}}';
  if (before.endsWith('{') && out.startsWith('{')) out = ` {{~!}}${out}`;
  return out;
}

/**
 * Replaces `${NAME}` in every string of a parsed config tree; a missing variable is a problem
 * naming the field. In a template the value is written so that it renders as it is.
 */
export function substituteEnv(tree: unknown, env: Readonly<Record<string, string | undefined>>): Substituted {
  const problems: string[] = [];
  const substitutions: Substitution[] = [];
  const unset = new Set<string>();
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') return substituteString(node, path);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return node;
  };
  const substituteString = (source: string, path: (string | number)[]): string => {
    const kind = source.includes('${') ? templateKind(tree, path) : undefined;
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
        unset.add(formatPath(path));
        continue;
      }
      const written = kind ? literalSource(value, text, kind === 'json') : value;
      found.push({ name, value, path, start: text.length, end: text.length + written.length });
      text += written;
    }
    if (found.length === 0 && last === 0) return source;
    text += source.slice(last);
    for (const substitution of found) substitutions.push({ ...substitution, text });
    return text;
  };
  return { value: walk(tree, []), problems, substitutions, unset: [...unset] };
}
