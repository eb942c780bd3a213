import { compileTemplate, lookupPath, wholeExpressionPath, type Template, type TemplateScope } from './engine';

/**
 * A JSON body compiled once: each string leaf is its own template, so the rendered value is
 * placed into the structure and serialised by JSON.stringify (call data cannot break the JSON).
 */
export type BodyNode =
  | { kind: 'const'; value: unknown }
  | { kind: 'text'; template: Template }
  | { kind: 'value'; parts: string[]; source: string }
  | { kind: 'array'; items: BodyNode[] }
  | { kind: 'object'; entries: [string, BodyNode][] };

export function compileBody(value: unknown): BodyNode {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return { kind: 'const', value };
    const parts = wholeExpressionPath(value);
    return parts ? { kind: 'value', parts, source: value.trim() } : { kind: 'text', template: compileTemplate(value) };
  }
  if (Array.isArray(value)) return { kind: 'array', items: value.map(compileBody) };
  if (value !== null && typeof value === 'object') {
    return { kind: 'object', entries: Object.entries(value).map(([k, v]) => [k, compileBody(v)]) };
  }
  return { kind: 'const', value };
}

/** Renders the body; a whole-expression leaf (`"{{ event.x }}"`) keeps the value's JSON type. */
export function renderBody(node: BodyNode, scope: TemplateScope, unresolved: Set<string>): unknown {
  switch (node.kind) {
    case 'const':
      return node.value;
    case 'text':
      return node.template.render(scope, unresolved);
    case 'value': {
      const value = lookupPath(scope, node.parts);
      if (value === undefined) {
        unresolved.add(node.parts.join('.'));
        return '';
      }
      return value;
    }
    case 'array':
      return node.items.map((item) => renderBody(item, scope, unresolved));
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, child] of node.entries) out[key] = renderBody(child, scope, unresolved);
      return out;
    }
  }
}
