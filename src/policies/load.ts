import { readFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../errors';
import { compilePolicy } from './compile';
import { formatPath } from '../util/format-path';
import { substituteEnv } from './env';
import { authSecrets, isSecretSubstitution, shortSecretProblem } from './secrets';
import { configSchema } from './schema';
import type { CallhookConfig, Policy } from './types';

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

/** Parses policies text; JSON is a subset of YAML, so one parser reads both. */
export function parseConfig(text: string, env: Env = {}, source = 'inline'): CallhookConfig {
  const document = YAML.parseDocument(text, { prettyErrors: true });
  const kind = extname(source) === '.json' ? 'JSON' : 'YAML';
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((e) => `${source}: ${kind} syntax: ${e.message.split('\n')[0]}`));
  }
  let tree: unknown;
  try {
    // toJS throws on an alias with no anchor before it, or too many aliases (a "billion laughs").
    tree = document.toJS();
  } catch (error) {
    throw new ConfigError([`${source}: ${kind} syntax: ${(error as Error).message.split('\n')[0]}`]);
  }
  return buildConfig(tree, env, source);
}

/** Validates an already-parsed policies tree. */
export function buildConfig(tree: unknown, env: Env, source = 'inline'): CallhookConfig {
  const substituted = substituteEnv(tree, env);
  const problems = [...substituted.problems];
  const parsed = configSchema.safeParse(substituted.value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${formatPath(issue.path)}: ${issue.message}`);
    throw new ConfigError(problems);
  }

  const policies: Policy[] = [];
  const byId = new Map<string, Policy>();
  parsed.data.policies.forEach((input, index) => {
    const policy = compilePolicy(input, index, problems, source === 'inline' ? '.' : dirname(source));
    if (byId.has(policy.id)) problems.push(`policies[${index}].id: "${policy.id}" is used by an earlier policy`);
    byId.set(policy.id, policy);
    policies.push(policy);
  });
  if (problems.length > 0) throw new ConfigError(problems);

  const secrets = new Set<string>();
  for (const substitution of substituted.substitutions) {
    if (!isSecretSubstitution(substitution, tree)) continue;
    secrets.add(substitution.value);
    const short = shortSecretProblem(substitution.path, substitution.value);
    if (short) problems.push(`${short} (\${${substitution.name}})`);
  }
  // Credentials written literally in the file (substituted ones were checked above).
  parsed.data.policies.forEach((policyInput, p) =>
    policyInput.apps.forEach((appInput, a) => {
      for (const field of ['password', 'token', 'client_secret'] as const) {
        const value = (appInput.auth as Partial<Record<typeof field, string>>)[field];
        if (substituted.substitutions.some((s) => s.path.join('.') === ['policies', p, 'apps', a, 'auth', field].join('.'))) continue;
        const short = value === undefined ? undefined : shortSecretProblem(['policies', p, 'apps', a, 'auth', field], value);
        if (short) problems.push(short);
      }
    }),
  );
  for (const policy of policies) for (const app of policy.apps) for (const s of authSecrets(app.auth)) secrets.add(s);
  for (const policy of parsed.data.policies) {
    for (const app of policy.apps) if (app.signing) secrets.add(app.signing.secret).add(app.signing.secret.slice('whsec_'.length));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze({ policies, byId, secrets: [...secrets].filter((s) => s.length > 0), source });
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
