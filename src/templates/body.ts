import { formatPath } from '../util/format-path';
import { compileTemplate, lookupPath, wholeExpressionPath, type Template, type TemplateScope } from './engine';
import { renderField } from './request';

/**
 * A JSON body compiled once: each string leaf is its own template, so the rendered value is
 * placed into the structure and serialised by JSON.stringify (call data cannot break the JSON).
 */
export type BodyNode =
  | { kind: 'const'; value: unknown }
  /** `field`: where it is in the policies file (`body.customer.name`), for a render error. */
  | { kind: 'text'; template: Template; field: string }
  | { kind: 'value'; parts: string[]; source: string }
  | { kind: 'array'; items: BodyNode[] }
  | { kind: 'object'; entries: [string, BodyNode][] };

export function compileBody(value: unknown, path: readonly (string | number)[] = ['body']): BodyNode {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return { kind: 'const', value };
    const parts = wholeExpressionPath(value);
    return parts ? { kind: 'value', parts, source: value.trim() } : { kind: 'text', template: compileTemplate(value), field: formatPath(path) };
  }
  if (Array.isArray(value)) return { kind: 'array', items: value.map((item, i) => compileBody(item, [...path, i])) };
  if (value !== null && typeof value === 'object') {
    return { kind: 'object', entries: Object.entries(value).map(([k, v]) => [k, compileBody(v, [...path, k])]) };
  }
  return { kind: 'const', value };
}

/** Renders the body; a whole-expression leaf (`"{{ event.x }}"`) keeps the value's JSON type. */
export function renderBody(node: BodyNode, scope: TemplateScope, unresolved: Set<string>): unknown {
  switch (node.kind) {
    case 'const':
      return node.value;
    case 'text':
      return renderField(node.field, node.template, scope, unresolved);
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
