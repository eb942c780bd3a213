import Handlebars from 'handlebars';
import { checkTemplate, registerHelpers } from './helpers';
import { wellFormed } from '../util/well-formed';
import { loops, STEP_COST } from './budget';
import { text, textOf } from './text';
import { checkRenderedOrigin, literalUserInfo, originEnd, originValue } from './origin';

export { STEP_COST } from './budget';

type AST = hbs.AST.Program;
type Node = hbs.AST.Node;
type Mustache = hbs.AST.MustacheStatement;
type Expression = hbs.AST.Expression;

/** What a template can see: the call event and earlier apps' results (plus `data` in `message`). */
export type TemplateScope = Record<string, unknown>;

/**
 * A template compiled once at config load. `render` never throws for missing data: a path that
 * resolves to nothing renders empty and is added to `unresolved`.
 */
export interface Template {
  readonly source: string;
  render(scope: TemplateScope, unresolved?: Set<string>): string;
}

/** An isolated Handlebars environment: built-in and callhook's helpers, nothing registered globally. */
const hb = Handlebars.create();
registerHelpers(hb);
// `log` writes its arguments (call data) to the console, past pino and redaction; without it,
// `{{ log }}` reads a field like any other name, and a call with arguments is a load error.
hb.unregisterHelper('log');
const ENCODE_HELPER = 'callhook_encode';
hb.registerHelper(ENCODE_HELPER, (value: unknown) => encodeRfc3986(stringify(value)));
// Handlebars inserts a value with `+`, which throws on call data such as {"toString": "x"}.
const TEXT_HELPER = 'callhook_text';
hb.registerHelper(TEXT_HELPER, text);
const ORIGIN_HELPER = 'callhook_origin';
hb.registerHelper(ORIGIN_HELPER, (value: unknown) => originValue(text(value)));

const builtInEach = hb.helpers['each']!;
hb.registerHelper('each', function (this: unknown, context: unknown, options?: Handlebars.HelperOptions) {
  const { budget } = loops;
  if (!budget || !options) return builtInEach.call(this, context, options);
  const { fn } = options;
  // Every loop checks what it has written so far, nested ones too (a cross product of two lists
  // is built inside one outer iteration); only the outermost takes it from the budget.
  const outermost = !loops.counting;
  let written = 0;
  const counted = (context: unknown, frame?: Handlebars.RuntimeOptions) => {
    // Steps are taken at once, nested loops' too: loops that write little are bounded as well.
    budget.left -= STEP_COST;
    if (budget.left < 0) throw budget.over();
    const out = fn(context, frame);
    written += out.length;
    if (budget.left - written < 0) throw budget.over();
    return out;
  };
  loops.counting = true;
  try {
    return builtInEach.call(this, context, { ...options, fn: counted });
  } finally {
    if (outermost) {
      loops.counting = false;
      budget.left -= written;
    }
  }
});

/**
 * Runs `render`, in which the loops of all templates rendered together may write at most
 * `maxChars` UTF-16 units (each is at least one byte of UTF-8, so a byte limit can be used),
 * less STEP_COST for each step they take and what helpers read and make inside them (budget.ts).
 * @throws what `over` makes, from the loop that goes past it
 */
export function renderWithin<T>(maxChars: number, over: () => Error, render: () => T): T {
  const outer = loops.budget;
  loops.budget = { left: maxChars, over };
  try {
    return render();
  } finally {
    loops.budget = outer;
  }
}

/**
 * One template rendered to at most `maxChars` UTF-16 units: its loops stop at the limit
 * (renderWithin), and a longer result without loops is refused too.
 * @throws what `over` makes
 */
export function renderCapped(template: Template, scope: TemplateScope, maxChars: number, over: () => Error, unresolved?: Set<string>): string {
  const rendered = renderWithin(maxChars, over, () => template.render(scope, unresolved));
  if (rendered.length > maxChars) throw over();
  return rendered;
}

/** How a value is inserted: as text, percent-encoded (a URL), or checked as a scheme, host or port. */
type Insert = 'text' | 'encoded' | 'origin';
const INSERTS: Readonly<Record<Insert, { helper: string; insert: (value: unknown) => string }>> = {
  text: { helper: TEXT_HELPER, insert: textOf },
  encoded: { helper: ENCODE_HELPER, insert: (value) => encodeRfc3986(stringify(value)) },
  origin: { helper: ORIGIN_HELPER, insert: (value) => originValue(textOf(value)) },
};

const UNRESERVED_ONLY = /^[A-Za-z0-9\-._~]*$/;
/** What encodeURIComponent leaves as is but RFC 3986 reserves. */
const SUB_DELIMS: Readonly<Record<string, string>> = { '!': '%21', "'": '%27', '(': '%28', ')': '%29', '*': '%2A' };
const escapeSubDelim = (c: string) => SUB_DELIMS[c]!;

/**
 * Percent-encodes everything but RFC 3986 unreserved characters (space becomes %20). A lone
 * surrogate in call data becomes U+FFFD, as JSON and UTF-8 headers treat it, instead of failing.
 */
export function encodeRfc3986(value: string): string {
  if (UNRESERVED_ONLY.test(value)) return value; // most values: digits, names, ids
  return encodeURIComponent(wellFormed(value)).replace(/[!'()*]/g, escapeSubDelim);
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Own-property lookup of a dotted path, as Handlebars resolves one: `__proto__`-style segments
 * resolve to nothing, a string's own `length` and indexes resolve.
 */
export function lookupPath(scope: unknown, parts: readonly string[]): unknown {
  let current: unknown = scope;
  for (const part of parts) {
    if (current === null || current === undefined || !Object.prototype.hasOwnProperty.call(current, part)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

interface ParsedPath {
  parts: string[];
  original: string;
}

/**
 * Paths resolved against the scope itself (outside any block): plain mustaches and the
 * arguments of callhook's helpers. The whole template is checked on the way (checkTemplate).
 */
function scopePaths(program: AST): ParsedPath[] {
  return [...topLevelPaths(program), ...checkTemplate(program)];
}

/** Paths of mustaches outside any block: the ones whose context is the scope itself. */
function topLevelPaths(program: AST): ParsedPath[] {
  const paths: ParsedPath[] = [];
  for (const node of program.body) {
    if (node.type !== 'MustacheStatement') continue;
    const path = (node as Mustache).path as Expression;
    const params = (node as Mustache).params;
    if (path.type === 'PathExpression' && params.length === 0) {
      const p = path as hbs.AST.PathExpression;
      if (!p.data && p.depth === 0 && p.parts.length > 0) paths.push({ parts: p.parts, original: p.original });
    }
  }
  return paths;
}

/** A template that is exactly one `{{ path }}`: its value keeps its JSON type in bodies. */
export function wholeExpressionPath(source: string): string[] | undefined {
  if (!source.includes('{{')) return undefined;
  const program = hb.parse(source);
  const [only] = program.body;
  if (program.body.length !== 1 || !only || only.type !== 'MustacheStatement') return undefined;
  const paths = topLevelPaths(program);
  return paths[0]?.parts;
}

/**
 * The text a template writes outside any block and mustache, whitespace control applied: every
 * rendering contains it, whatever the call data.
 * @throws Error with Handlebars' message when the template does not parse.
 */
export function textOutsideBlocks(source: string): string {
  if (!source.includes('{{')) return source;
  return hb
    .parse(source)
    .body.map((node) => (node.type === 'ContentStatement' ? (node as hbs.AST.ContentStatement).value : ''))
    .join('');
}

/** Literal text, or the path of a value to insert. */
type Piece = string | ParsedPath;

/**
 * A template of only text and `{{ a.b }}` paths, as pieces; undefined when it has anything
 * else (blocks, helpers, `../`, `@data`, or a one-name path, which Handlebars may read as a
 * helper). Nearly every webhook template is this simple.
 */
function simplePieces(program: AST): Piece[] | undefined {
  const pieces: Piece[] = [];
  for (const node of program.body) {
    if (node.type === 'ContentStatement') pieces.push((node as hbs.AST.ContentStatement).value);
    else if (node.type === 'CommentStatement') continue;
    else if (node.type !== 'MustacheStatement') return undefined;
    else {
      const { path, params, hash } = node as Mustache;
      if (params.length > 0 || hash || path.type !== 'PathExpression') return undefined;
      const p = path as hbs.AST.PathExpression;
      if (p.data || p.depth !== 0 || p.parts.length < 2) return undefined;
      pieces.push({ parts: p.parts, original: p.original });
    }
  }
  return pieces;
}

/**
 * Renders simple pieces by concatenation: Handlebars' output (`noEscape`: a value is inserted
 * as `String(value)`, null and undefined as nothing) at a fraction of its per-call cost.
 */
function concatenation(pieces: Piece[], insert: (value: unknown) => string): Template['render'] {
  return (scope, unresolved) => {
    let out = '';
    for (const piece of pieces) {
      if (typeof piece === 'string') {
        out += piece;
        continue;
      }
      const value = lookupPath(scope, piece.parts);
      if (value === undefined) unresolved?.add(piece.original);
      else if (value !== null) out += insert(value);
    }
    return out;
  };
}

function toTemplate(source: string, program: AST, paths: ParsedPath[], insert: Insert = 'text'): Template {
  const pieces = simplePieces(program);
  if (pieces) return { source, render: concatenation(pieces, INSERTS[insert].insert) };
  // Every value goes through a helper that makes it text (percent-encoded in a URL) safely.
  wrapMustaches(program, INSERTS[insert].helper);
  const compiled = hb.compile(program, { noEscape: true, strict: false });
  return {
    source,
    render(scope, unresolved) {
      if (unresolved) {
        for (const path of paths) if (lookupPath(scope, path.parts) === undefined) unresolved.add(path.original);
      }
      return compiled(scope);
    },
  };
}

/**
 * Compiles a template and dry-runs it on an empty scope, so syntax errors surface at load time.
 * @throws Error with Handlebars' message when the template does not parse.
 */
export function compileTemplate(source: string): Template {
  if (!source.includes('{{')) return { source, render: () => source };
  const program = hb.parse(source);
  const template = toTemplate(source, program, scopePaths(program));
  template.render({});
  return template;
}

/**
 * Compiles a URL template in which every rendered value is percent-encoded (RFC 3986), so call
 * data can never add a path segment, a query, a fragment or a host. With `templatedOrigin`
 * (allow_templated_host), values before the path are inserted as they are instead, so they can
 * be a scheme, host or port, and what they render must be `http(s)://host[:port]`.
 * @throws Error with Handlebars' message when the template does not parse.
 */
export function compileUrlTemplate(source: string, options: { templatedOrigin?: boolean } = {}): Template {
  if (!source.includes('{{')) return compileTemplate(source);
  if (!options.templatedOrigin) return compilePart(source, hb.parse(source), 'encoded');
  hb.parse(source); // a syntax error is reported as such, not as a block across the host's end
  const end = originEnd(source);
  const [originSource, restSource] = [source.slice(0, end), source.slice(end)];
  let programs: [AST, AST];
  try {
    programs = [hb.parse(originSource), hb.parse(restSource)];
  } catch {
    throw new Error('with allow_templated_host, a block ({{#if}}...) may not contain the first "/", "?" or "#" after the host');
  }
  const userInfo = literalUserInfo(originSource);
  const origin = compilePart(originSource, programs[0], 'origin');
  const rest = compilePart(restSource, programs[1], 'encoded');
  return {
    source,
    render(scope, unresolved) {
      const rendered = origin.render(scope, unresolved);
      checkRenderedOrigin(rendered, userInfo);
      return rendered + rest.render(scope, unresolved);
    },
  };
}

/** A URL template (or a part of one), dry-run on an empty scope. */
function compilePart(source: string, program: AST, insert: Insert): Template {
  if (!source.includes('{{')) return { source, render: () => source };
  const template = toTemplate(source, program, scopePaths(program), insert);
  template.render({});
  return template;
}

/** Rewrites every `{{ x }}` into `{{ <name> x }}`, in nested blocks too. */
function wrapMustaches(node: Node | undefined | null, name: string): void {
  if (!node) return;
  const anyNode = node as unknown as Record<string, unknown>;
  if (node.type === 'Program') {
    for (const child of (node as AST).body) wrapMustaches(child, name);
    return;
  }
  if (node.type === 'BlockStatement') {
    wrapMustaches(anyNode.program as Node, name);
    wrapMustaches(anyNode.inverse as Node, name);
    return;
  }
  if (node.type !== 'MustacheStatement') return;
  const mustache = node as Mustache;
  // `{{ x }}` becomes a parameter, where a name is looked up, never called: a helper named
  // alone (`{{ now }}`) must stay a call.
  const { path } = mustache;
  const callsHelper = path.type === 'PathExpression' && (path as hbs.AST.PathExpression).parts.length === 1 && Object.hasOwn(hb.helpers, (path as hbs.AST.PathExpression).original);
  const inner: Expression =
    mustache.params.length === 0 && !mustache.hash && !callsHelper
      ? mustache.path
      : ({
          type: 'SubExpression',
          path: mustache.path,
          params: mustache.params,
          hash: mustache.hash,
          loc: mustache.loc,
        } as unknown as Expression);
  const helper = { type: 'PathExpression', data: false, depth: 0, parts: [name], original: name, loc: mustache.loc };
  Object.assign(mustache, { path: helper, params: [inner], hash: undefined });
}
