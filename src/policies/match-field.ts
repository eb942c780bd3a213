/**
 * How a `match` rule reads its field from an event: a top-level field (`called_number`) or a
 * dotted path through nested plain objects (`cdr.finalCalledPartyNumberPartition`), split once
 * when the config is compiled. Only own properties are read, never the prototype's, so
 * `constructor` or `__proto__` in a policies file resolves to nothing rather than to Object's
 * internals.
 */
export type FieldReader = (event: Readonly<Record<string, unknown>>) => unknown;

/** Why a match field is refused, or undefined when it is a field name or a dotted path. */
export function matchFieldProblem(field: string): string | undefined {
  return field.split('.').includes('') ? 'is not a field name or a dotted path such as cdr.finalCalledPartyNumberPartition' : undefined;
}

export function fieldReader(field: string): FieldReader {
  const path = field.split('.');
  // The common case, a top-level field, costs one own-property check and no loop.
  if (path.length === 1) return (event) => (Object.hasOwn(event, field) ? event[field] : undefined);
  return (event) => {
    let value: unknown = event;
    for (const key of path) {
      if (!isPlainObject(value) || !Object.hasOwn(value, key)) return undefined;
      value = value[key];
    }
    return value;
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
