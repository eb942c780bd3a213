import type Handlebars from 'handlebars';
import { chargeInLoop } from './budget';
import { formatInstant, instantOf, isDateFormat, zoneFormat } from './dates';
import { countryCode, e164 } from './phone';
import { LONE_SURROGATE } from '../util/well-formed';
import { text, textOf } from './text';

/**
 * callhook's template helpers. Each takes call data, which is untrusted: any value, of any size,
 * renders a string (or, for `default`, the value itself) and never throws. Misuse a template
 * author can see (wrong argument count, a bad literal country, length or zone) is a load error.
 */

/** A finite number from a number or a decimal string ("42", " 7.5 "); undefined otherwise. */
function numberOf(value: unknown): number | undefined {
  if (typeof value === 'string' && value.length <= 32 && /^\s*[+-]?\d+(?:\.\d+)?\s*$/.test(value)) return Number(value);
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function date(value: unknown, format?: unknown, zone?: unknown): string {
  const ms = instantOf(value);
  const zoneName = text(zone);
  const formatter = zoneName === '' ? undefined : zoneFormat(zoneName);
  if (ms === undefined || (zoneName !== '' && !formatter)) return '';
  return formatInstant(ms, text(format) || 'iso', formatter);
}

function duration(value: unknown): string {
  const seconds = numberOf(value);
  if (seconds === undefined || seconds < 0 || seconds > Number.MAX_SAFE_INTEGER) return '';
  const whole = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${Math.floor(whole / 3600)}:${pad(Math.floor((whole % 3600) / 60))}:${pad(whole % 60)}`;
}

/**
 * The first argument that is not null, undefined or "", as it is (so `json (default a b)` keeps
 * an object); an object String() cannot convert (`{"toString": ""}`) as its text.
 */
function fallback(...values: unknown[]): unknown {
  const value = values.find((v) => v !== undefined && v !== null && v !== '');
  if (value === null || typeof value !== 'object') return value;
  try {
    String(value);
    return value;
  } catch {
    return textOf(value);
  }
}

/** JSON text of the value; `null` for what JSON cannot hold (missing, nested too deep), so a JSON text body stays JSON. */
function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return 'null'; // nesting deeper than the stack
  }
}

/** What XML 1.0 cannot carry at all, even escaped: C0 controls but tab, LF and CR; U+FFFE, U+FFFF; lone surrogates. */
const NOT_XML = new RegExp(`[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ufffe\\uffff]|${LONE_SURROGATE.source}`, 'g');
const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function xml(value: unknown): string {
  return text(value).replace(NOT_XML, '').replace(/[&<>"']/g, (c) => XML_ENTITIES[c]!);
}

/**
 * Grapheme clusters: what a reader sees as one character, which may be several code points (a
 * flag, a family emoji joined by ZWJ, a skin tone, a letter and its combining accents).
 */
const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The UTF-16 index after the first `count` grapheme clusters of `s` (s.length when it has fewer). */
function graphemeEnd(s: string, count: number): number {
  if (s.length <= count) return s.length; // no more clusters than UTF-16 units
  let n = 0;
  for (const { index } of GRAPHEMES.segment(s)) if (n++ === count) return index;
  return s.length;
}

/** How many grapheme clusters `s` has, counting no further than `max + 1`. */
function graphemeCount(s: string, max: number): number {
  let n = 0;
  for (const _ of GRAPHEMES.segment(s)) if (++n > max) break;
  return n;
}

/** A truncate length: a whole number, 0 or more. */
function lengthOf(value: unknown): number | undefined {
  const n = numberOf(value);
  return n !== undefined && Number.isInteger(n) && n >= 0 ? n : undefined;
}

/**
 * At most `length` characters (grapheme clusters, never cut), the suffix included (dropped when
 * it does not fit). The default suffix is "": "…" is not in the GSM 7-bit alphabet and would
 * halve an SMS.
 */
function truncate(value: unknown, length: unknown, suffix?: unknown): string {
  const limit = lengthOf(length);
  if (limit === undefined) return ''; // a limit that cannot be read cannot be honoured
  const s = text(value);
  const end = graphemeEnd(s, limit);
  if (end === s.length) return s;
  const tail = text(suffix);
  const tailLength = graphemeCount(tail, limit);
  // The suffix only when it leaves room for some of the text.
  return tailLength < limit ? s.slice(0, graphemeEnd(s, limit - tailLength)) + tail : s.slice(0, end);
}

interface Helper {
  /** How it is called; `[x]` is optional, `x...` repeats. The arity check and its message read it. */
  usage: string;
  run(...args: unknown[]): unknown;
  /** Literal arguments (by position, 0 = the first) that are checked at load. */
  literals?: { at: number; valid(value: unknown): boolean; expects: string }[];
}

const HELPERS: Record<string, Helper> = {
  digits: { usage: 'digits value', run: (v) => text(v).replace(/\D+/g, '') },
  e164: { usage: 'e164 number [country]', run: e164, literals: [{ at: 1, valid: (v) => countryCode(v) !== undefined, expects: 'a country calling code such as "44"' }] },
  date: {
    usage: 'date value [format] [zone]',
    run: date,
    literals: [
      { at: 1, valid: (v) => text(v) === '' || isDateFormat(text(v)), expects: 'a date format: iso, unix, or YYYY MM DD HH mm ss SSS with any other letters in [brackets]' },
      { at: 2, valid: (v) => text(v) === '' || zoneFormat(text(v)) !== undefined, expects: 'an IANA time zone such as "Europe/London"' },
    ],
  },
  duration: { usage: 'duration seconds', run: duration },
  default: { usage: 'default value fallback...', run: fallback },
  json: { usage: 'json value', run: json },
  xml: { usage: 'xml value', run: xml },
  lower: { usage: 'lower value', run: (v) => text(v).toLowerCase() },
  upper: { usage: 'upper value', run: (v) => text(v).toUpperCase() },
  truncate: { usage: 'truncate value length [suffix]', run: truncate, literals: [{ at: 1, valid: (v) => lengthOf(v) !== undefined, expects: 'a whole number of characters' }] },
};

/** How much text the arguments are (a list or object is charged when made text: textOf). */
function textLength(args: unknown[]): number {
  let n = 0;
  for (const arg of args) if (typeof arg === 'string') n += arg.length;
  return n;
}

/** Registers the helpers on one Handlebars environment (never the global one). */
export function registerHelpers(env: typeof Handlebars): void {
  for (const [name, helper] of Object.entries(HELPERS)) {
    env.registerHelper(name, function (this: unknown, ...args: unknown[]) {
      const options = args.pop() as Partial<Handlebars.HelperOptions>; // fn is set only for a block
      if (args.length > 0) {
        const out = helper.run(...args);
        // Inside a loop, what a helper reads and makes counts against the render budget: its
        // result need not be written (`{{#if (json @root.event)}}`) to cost a pass over call data.
        chargeInLoop(textLength(args) + (typeof out === 'string' ? out.length : 0));
        return out;
      }
      // No argument: `{{ duration }}` inside `{{#each calls}}` read the field before the helper
      // existed, and still does (Handlebars would otherwise call the helper instead).
      const value = this !== null && this !== undefined && Object.hasOwn(this, name) ? (this as Record<string, unknown>)[name] : undefined;
      return options.fn ? env.helpers['blockHelperMissing']!.call(this, value, options) : value;
    });
  }
}

type Call = hbs.AST.MustacheStatement | hbs.AST.BlockStatement | hbs.AST.SubExpression;
type Path = { parts: string[]; original: string };

/** Handlebars' own helpers that templates may call, and how: the others write to the console (`log`) or are internal. */
const BUILT_INS: Record<string, { params: number; block: boolean; usage: string }> = {
  if: { params: 1, block: true, usage: '{{#if value}}…{{/if}}' },
  unless: { params: 1, block: true, usage: '{{#unless value}}…{{/unless}}' },
  each: { params: 1, block: true, usage: '{{#each list}}…{{/each}}' },
  with: { params: 1, block: true, usage: '{{#with value}}…{{/with}}' },
  lookup: { params: 2, block: false, usage: '{{ lookup object key }}' },
};

/**
 * The name a call would run as a helper: a one-part path (`this.date` and `./date` are fields)
 * or a literal, which Handlebars also reads as a helper's name. Undefined for anything else.
 */
function helperName(call: Call): string | undefined {
  const path = call.path as hbs.AST.PathExpression | hbs.AST.StringLiteral;
  if (path.type !== 'PathExpression') return /Literal$/.test(path.type) ? String(path.original) : undefined;
  if (path.data || path.depth !== 0 || path.parts.length !== 1 || /^(?:\.|this\b)/.test(path.original)) return undefined;
  return path.parts[0];
}

function literalValue(node: hbs.AST.Expression): { value: unknown } | undefined {
  if (node.type === 'NullLiteral') return { value: null };
  if (node.type === 'UndefinedLiteral') return { value: undefined };
  return /^(String|Number|Boolean)Literal$/.test(node.type) ? { value: (node as hbs.AST.StringLiteral).value } : undefined;
}

function checkCall(call: Call, name: string, helper: Helper): void {
  const words = helper.usage.split(' ').slice(1);
  const min = words.filter((w) => !w.startsWith('[')).length;
  const max = words.some((w) => w.endsWith('...')) ? Infinity : words.length;
  const got = call.params.length;
  if (call.type === 'BlockStatement') throw new Error(`${name} is a helper, not a block: use {{ ${helper.usage} }}`);
  if (call.hash) throw new Error(`${name} takes no name=value options: {{ ${helper.usage} }}`);
  const count = min === max ? `${min}` : max === Infinity ? `${min} or more` : `${min} to ${max}`;
  if (got < min || got > max) throw new Error(`${name} takes ${count} argument${count === '1' ? '' : 's'} ({{ ${helper.usage} }}), got ${got}`);
  for (const literal of helper.literals ?? []) {
    const param = call.params[literal.at];
    const found = param && literalValue(param);
    if (found && !literal.valid(found.value)) throw new Error(`${name}: ${JSON.stringify(found.value)} is not ${literal.expects}`);
  }
}

const HELPER_LIST = `callhook's ${Object.keys(HELPERS).join(', ')}; Handlebars' ${Object.keys(BUILT_INS).join(', ')}`;

/**
 * A call that is not to one of callhook's helpers: Handlebars' own must be used as they work,
 * and anything else would fail every call that reaches it ("Missing helper"), or worse.
 */
function checkOtherCall(call: Call, name: string | undefined): void {
  const builtIn = name !== undefined && Object.hasOwn(BUILT_INS, name) ? BUILT_INS[name]! : undefined;
  if (builtIn) {
    if (call.params.length !== builtIn.params || (builtIn.block && call.type !== 'BlockStatement')) throw new Error(`${name} must be written ${builtIn.usage}`);
    return;
  }
  // Without arguments a mustache or a block reads a field; a sub-expression always calls a helper.
  if (call.params.length === 0 && !call.hash && call.type !== 'SubExpression') return;
  const shown = name ?? (call.path as hbs.AST.PathExpression).original;
  if (shown === 'log') throw new Error('log is not available: it would write call data to the console, past callhook\'s logs and their redaction');
  const field = call.type === 'SubExpression' && call.params.length === 0 && !call.hash ? `; a field is written without parentheses: ${shown}` : '';
  throw new Error(`${shown} is not a helper (${HELPER_LIST})${field}`);
}

/**
 * Checks a parsed template at load, every block included (the dry run enters none): no partials
 * or decorators (their text compiles on its own, without these checks and without URL encoding),
 * no call to a helper that does not exist or to Handlebars' `log`, callhook's helpers with the
 * right arguments. Returns the paths given to helpers outside blocks: they resolve against the
 * scope, so they can be listed as unresolved.
 * @throws Error naming what is wrong and, for a helper, how it is called.
 */
export function checkTemplate(program: hbs.AST.Program): Path[] {
  const paths: Path[] = [];
  const visit = (node: hbs.AST.Node | null | undefined, topLevel: boolean): void => {
    if (!node) return;
    if (node.type === 'Program') return (node as hbs.AST.Program).body.forEach((child) => visit(child, topLevel));
    if (node.type === 'PartialStatement' || node.type === 'PartialBlockStatement') throw new Error('partials ({{> name}}) are not supported: write their text in the template');
    if (node.type === 'DecoratorBlock' || node.type === 'Decorator') throw new Error('inline partials and decorators ({{#*inline}}, {{* name}}) are not supported');
    if (!['MustacheStatement', 'BlockStatement', 'SubExpression'].includes(node.type)) return;
    const call = node as Call;
    const name = helperName(call);
    if (name !== undefined && Object.hasOwn(HELPERS, name) && (call.params.length > 0 || call.hash)) {
      checkCall(call, name, HELPERS[name]!);
      if (topLevel) {
        for (const param of call.params) {
          const path = param as hbs.AST.PathExpression;
          if (path.type === 'PathExpression' && !path.data && path.depth === 0 && path.parts.length > 0) paths.push({ parts: path.parts, original: path.original });
        }
      }
    } else if (name === undefined || !Object.hasOwn(HELPERS, name)) {
      checkOtherCall(call, name);
    }
    for (const param of call.params) visit(param, topLevel);
    for (const pair of call.hash?.pairs ?? []) visit(pair.value, topLevel);
    if (call.type === 'BlockStatement') {
      visit(call.program, false);
      visit(call.inverse, false);
    }
  };
  visit(program, true);
  return paths;
}
