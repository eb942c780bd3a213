import YAML from 'yaml';

type Path = (string | number)[];

/** A map with a map or a list as a key; `template` when that is a `{{ x }}` written unquoted. */
export interface CollectionKey {
  readonly path: readonly (string | number)[];
  /** The template as written (`{{ event.calling_number }}`). */
  readonly template: string | undefined;
}

/**
 * Every map in the document with a map or a list as a key. In a policies file that is nearly
 * always an unquoted template: `text: {{ event.calling_number }}` is a flow map
 * `{ {event.calling_number: null}: null }`, which toJS() turned into the key
 * "{ event.calling_number }" and sent as an object.
 */
export function collectionKeys(document: YAML.Document, text: string): CollectionKey[] {
  const found: CollectionKey[] = [];
  const visit = (node: unknown, path: Path): void => {
    if (YAML.isSeq(node)) node.items.forEach((item, i) => visit(item, [...path, i]));
    if (!YAML.isMap(node)) return;
    if (node.items.some((pair) => YAML.isCollection(pair.key))) {
      const written = node.range ? text.slice(node.range[0], node.range[1]).trim() : '';
      found.push({ path, template: node.flow && /^\{\{[^\n]*\}\}$/.test(written) ? written : undefined });
      return;
    }
    for (const pair of node.items) visit(pair.value, [...path, YAML.isScalar(pair.key) ? String(pair.key.value) : String(pair.key)]);
  };
  visit(document.contents, []);
  return found;
}

/** `policies[0].apps[1].url` → ['policies', 0, 'apps', 1, 'url'] (a key holding "." is split: locating it finds its parent). */
export function parsePath(formatted: string): Path {
  return [...formatted.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map(([, key, index]) => (index === undefined ? key! : Number(index)));
}

/** Where the deepest node on `path` that the document has starts: the line of a field, or of the nearest part of it that exists. */
export function offsetOf(document: YAML.Document, path: Path): number | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node: unknown = document.getIn(path.slice(0, length), true);
    if (YAML.isNode(node) && node.range) return node.range[0];
  }
  return undefined;
}
