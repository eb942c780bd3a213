import { readFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../errors';
import { compilePolicy } from './compile';
import { formatPath } from '../util/format-path';
import { Redactor } from '../util/redact';
import { botchedReferenceProblem, substituteEnv, type Substitution } from './env';
import { authSecrets, isSecretSubstitution, shortSecretProblem } from './secrets';
import { configSchema, signingSecrets } from './schema';
import { soundPolicies, UNKNOWN_POLICY_ID, type PolicyToCompile } from './sound-parts';
import type { CallhookConfig, Policy } from './types';
import { configWarnings } from './warnings';
import { collectionKeys, offsetOf, parsePath, type CollectionKey } from './yaml-source';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads, validates and compiles a policies file (YAML or JSON). The result is frozen.
 * @throws ConfigError listing every problem with its path.
 */
export function loadConfigFile(path: string, env: Env): CallhookConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`${path}: cannot read the policies file (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  return parseConfig(text, env, path);
}

/**
 * Parses policies text; JSON is a subset of YAML, so one parser reads both. Problems and
 * warnings of a file (any `source` but 'inline') start with the file and the line they are on.
 */
export function parseConfig(text: string, env: Env = {}, source = 'inline'): CallhookConfig {
  const lineCounter = new YAML.LineCounter();
  // logLevel error: the library's own warning for a map used as a key (an unquoted template) is
  // replaced by a load error that says what to write.
  const document = YAML.parseDocument(text, { prettyErrors: true, lineCounter, logLevel: 'error' });
  const kind = extname(source) === '.json' ? 'JSON' : 'YAML';
  if (document.errors.length > 0) throw new ConfigError(document.errors.map((e) => syntaxProblem(e, source, kind)));
  let tree: unknown;
  try {
    // toJS throws on an alias with no anchor before it, or too many aliases (a "billion laughs").
    tree = document.toJS();
  } catch (error) {
    throw new ConfigError([`${source}: ${kind} syntax: ${(error as Error).message.split('\n')[0]}`]);
  }
  if (tree === null || tree === undefined) throw new ConfigError([`${source}: the file is empty: it needs a \`policies:\` list`]);
  const locate = (line: string): string => {
    if (source === 'inline') return line;
    const offset = offsetOf(document, parsePath(line.slice(0, line.indexOf(': '))));
    return offset === undefined ? `${source}: ${line}` : `${source}:${lineCounter.linePos(offset).line}: ${line}`;
  };
  return buildConfig(tree, env, source, { collectionKeys: collectionKeys(document, text), locate });
}

/**
 * A YAML syntax error at its line and column. The library's excerpt of the file is left out: the
 * line may hold a credential written in the file, and problems end up in terminals and CI logs.
 */
function syntaxProblem(error: YAML.YAMLError, source: string, kind: string): string {
  const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const at = error.linePos?.[0];
  return at ? `${source}:${at.line}:${at.col}: ${kind} syntax: ${message}` : `${source}: ${kind} syntax: ${message}`;
}

/** What parseConfig knows from the document itself: maps used as keys (unquoted templates), and where a problem's path is in the file. */
interface SourceFacts {
  collectionKeys: readonly CollectionKey[];
  locate(line: string): string;
}

/** Validates an already-parsed policies tree. */
export function buildConfig(tree: unknown, env: Env, source = 'inline', facts: SourceFacts = { collectionKeys: [], locate: (line) => line }): CallhookConfig {
  const substituted = substituteEnv(tree, env);
  const secretSubstitutions = substituted.substitutions.filter((substitution) => isSecretSubstitution(substitution, tree));
  const secretFields = secretSubstitutions.map((substitution) => formatPath(substitution.path));
  const holdsSecret = (path: string) => secretFields.some((field) => field === path || field.startsWith(`${path}.`) || field.startsWith(`${path}[`));
  const problems = [...substituted.problems];
  // Mistakes whose fix is plain from the text: what the schema makes of them ("expected string,
  // received object" for an unquoted template, "must be whsec_..." for "$SECRET") would hide it.
  const mistakes = [
    ...facts.collectionKeys.map(({ path, template }) => ({
      field: formatPath(path),
      problem: template ? `a template must be quoted in YAML: "${template}"` : 'a key must be text, not a map or a list',
    })),
    ...botchedCredentials(tree),
  ];
  for (const { field, problem } of mistakes) problems.push(`${field}: ${problem}`);
  const covered = (at: string) => mistakes.some(({ field }) => at === field || at.startsWith(`${field}.`) || at.startsWith(`${field}[`));
  const parsed = configSchema.safeParse(substituted.value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) if (!covered(formatPath(issue.path))) problems.push(`${formatPath(issue.path)}: ${issue.message}`);
  }
  // The compile pass runs on what the schema accepts, so a file's problems all show in one check.
  const inputs: PolicyToCompile[] = parsed.success ? parsed.data.policies.map((input, index) => ({ index, input })) : soundPolicies(substituted.value);

  const policies: Policy[] = [];
  const byId = new Map<string, Policy>();
  for (const { input, index, appIndexes } of inputs) {
    const policy = compilePolicy(input, index, problems, source === 'inline' ? '.' : dirname(source), appIndexes, holdsSecret);
    if (policy.id !== UNKNOWN_POLICY_ID && byId.has(policy.id)) problems.push(`policies[${index}].id: "${policy.id}" is used by an earlier policy`);
    byId.set(policy.id, policy);
    policies.push(policy);
  }

  const secrets = new Set<string>();
  for (const substitution of secretSubstitutions) {
    secrets.add(substitution.value);
    const short = shortSecretProblem(substitution.path, substitution.value);
    if (short) problems.push(`${short} (\${${substitution.name}})`);
  }
  problems.push(...literalShortSecrets(inputs, substituted.substitutions));
  problems.push(...sharedKeyRates(inputs));
  // A problem may quote a value (a duration, a pattern...): `config check` output ends up in
  // terminals and CI logs, so it shows no secret (template errors leave out a secret's field's text).
  const redactor = new Redactor(secrets);
  if (!parsed.success || problems.length > 0) {
    // A field whose variable is not set was checked without it (an empty token is "too small"):
    // its "is not set" is the one problem there, not what the check made of the rest.
    const unsetCovers = (problem: string) => substituted.unset.some((field) => [': ', '.', '['].some((next) => problem.startsWith(`${field}${next}`)));
    const shown = [...substituted.problems, ...problems.slice(substituted.problems.length).filter((problem) => !unsetCovers(problem))];
    throw new ConfigError(shown.map((problem) => facts.locate(redactor.text(problem))));
  }

  for (const policy of policies) for (const app of policy.apps) for (const s of authSecrets(app.auth)) secrets.add(s);
  for (const policy of parsed.data.policies) {
    for (const app of policy.apps) for (const secret of app.signing ? signingSecrets(app.signing) : []) secrets.add(secret).add(secret.slice('whsec_'.length));
  }
  const warnings = configWarnings(parsed.data.policies, policies).map((warning) => facts.locate(redactor.text(warning)));
  return deepFreeze({ policies, byId, secrets: [...secrets].filter((s) => s.length > 0), source, warnings });
}

/** Auth and signing values written as a botched `${NAME}` (env.ts, botchedReferenceProblem), each at its path. */
function botchedCredentials(tree: unknown): { field: string; problem: string }[] {
  const problems: { field: string; problem: string }[] = [];
  const check = (path: (string | number)[], value: unknown) => {
    const problem = typeof value === 'string' ? botchedReferenceProblem(value) : undefined;
    if (problem) problems.push({ field: formatPath(path), problem });
  };
  const policies = (tree as { policies?: unknown } | null)?.policies;
  (Array.isArray(policies) ? policies : []).forEach((policy: { apps?: unknown } | null, p) => {
    const apps = policy?.apps;
    (Array.isArray(apps) ? apps : []).forEach((app: { auth?: Record<string, unknown>; signing?: Record<string, unknown> } | null, a) => {
      const at = ['policies', p, 'apps', a];
      for (const field of CREDENTIAL_AUTH_FIELDS) check([...at, 'auth', field], app?.auth?.[field]);
      check([...at, 'signing', 'secret'], app?.signing?.['secret']);
      const secrets = app?.signing?.['secrets'];
      if (Array.isArray(secrets)) secrets.forEach((secret, i) => check([...at, 'signing', 'secrets', i], secret));
    });
  });
  return problems;
}

/** The auth fields that hold who the app is (not its type, URL or scope). */
const CREDENTIAL_AUTH_FIELDS = ['username', 'password', 'token', 'client_id', 'client_secret'];

/** Credentials written literally in the file that are too short to redact (substituted ones are checked with their variable). */
function literalShortSecrets(inputs: readonly PolicyToCompile[], substitutions: readonly Substitution[]): string[] {
  const substituted = new Set(substitutions.map((s) => s.path.join('.')));
  const problems: string[] = [];
  for (const { input, index: p, appIndexes } of inputs) {
    input.apps.forEach((appInput, position) => {
      const a = appIndexes?.[position] ?? position;
      for (const field of ['password', 'token', 'client_secret'] as const) {
        const value = (appInput.auth as Partial<Record<typeof field, string>>)[field];
        const path = ['policies', p, 'apps', a, 'auth', field];
        if (value === undefined || substituted.has(path.join('.'))) continue;
        const short = shortSecretProblem(path, value);
        if (short) problems.push(short);
      }
    });
  }
  return problems;
}

/**
 * Apps that name the same literal rate_limit_key share one limit, so they must give it the same
 * rate: Redis keeps one log of the last sends per key, and one schedule per key and rate (apps
 * giving one key two rates would each keep their own spacing). (A key rendered from call data
 * cannot be checked at load.)
 */
function sharedKeyRates(inputs: readonly PolicyToCompile[]): string[] {
  const first = new Map<string, { rate: string; at: string }>();
  const problems: string[] = [];
  for (const { input, index: p, appIndexes } of inputs) {
    input.apps.forEach((app, position) => {
      const key = app.rate_limit_key;
      if (key === undefined || key.includes('{{') || !app.rate_limit) return;
      const at = `policies[${p}].apps[${appIndexes?.[position] ?? position}]`;
      const { count, periodMs } = app.rate_limit;
      const rate = `${count}/${periodMs === 1000 ? 's' : periodMs === 60_000 ? 'm' : 'h'}`;
      const earlier = first.get(key);
      if (!earlier) first.set(key, { rate, at });
      else if (earlier.rate !== rate) problems.push(`${at}.rate_limit: ${rate}, but ${earlier.at} gives ${earlier.rate} for the same rate_limit_key "${key}": apps sharing a key share one limit, so give them the same rate`);
    });
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  // A Buffer (a signing key) cannot be frozen; nothing hands it out to be changed.
  if (value === null || typeof value !== 'object' || Object.isFrozen(value) || value instanceof RegExp || ArrayBuffer.isView(value)) return value;
  if (value instanceof Map || value instanceof Set) {
    for (const item of value.values()) deepFreeze(item);
  } else {
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return Object.freeze(value);
}
