import { formatPath } from '../util/format-path';
import { isCredentialName, MIN_SECRET_CHARS } from '../util/redact';
import type { Substitution } from './env';
import type { AuthConfig } from './types';

/** Variable names that say "credential", wherever the value is used. */
const SECRET_NAME = /TOKEN|SECRET|PASSW|PWD|KEY|CREDENTIAL|AUTH|SIGN|PRIVATE|COOKIE|SESSION/i;
/** Auth fields that are credentials (username, client_id and scope are not). */
const AUTH_SECRETS = new Set(['password', 'token', 'client_secret']);

/**
 * Which `${NAME}` substitutions are secrets, so that none leaks and ordinary text stays readable
 * (README, "Secrets"). A substitution is a secret when
 * - its variable's name says so (`…TOKEN`, `…SECRET`, `…PASSWORD`, `…KEY`, `…AUTH…`, …), or
 * - it lands in a credential: `auth.password`, `auth.token`, `auth.client_secret`, `signing.*`,
 *   a header or query parameter whose name says so (`Authorization`, `X-Api-Key`, `api_key`…), or
 * - it lands in a URL (`url`, `auth.token_url`) anywhere but its scheme, host and port: a path or
 *   query (a Slack webhook's path is its secret) or user info.
 * A base URL such as `${CRM_URL}/contacts` with `CRM_URL=https://crm.example.com` stays readable.
 */
export function isSecretSubstitution(substitution: Substitution, tree: unknown): boolean {
  if (SECRET_NAME.test(substitution.name)) return true;
  const [, , , , field, ...rest] = substitution.path; // policies[i].apps[j].<field>...
  if (substitution.path[2] !== 'apps') return false;
  switch (field) {
    case 'url':
      return beyondOrigin(substitution);
    case 'auth':
      return rest[0] === 'token_url' ? beyondOrigin(substitution) : AUTH_SECRETS.has(String(rest[0]));
    case 'signing':
      return true;
    case 'headers':
    case 'query':
      return isCredentialName(keyValueName(tree, substitution.path));
    default:
      return false;
  }
}

/** True when the value covers more of a URL than its scheme, host and port. */
function beyondOrigin({ text, start, end }: Substitution): boolean {
  const authorityStart = text.indexOf('//') + 2;
  const authorityLength = text.slice(authorityStart).search(/[/?#]/);
  const originEnd = authorityLength === -1 ? text.length : authorityStart + authorityLength;
  const at = text.lastIndexOf('@', originEnd);
  const inUserInfo = at >= authorityStart && start < at && end > authorityStart;
  return authorityStart < 2 || end > originEnd || inUserInfo;
}

/** The header or query parameter name a value belongs to, in the map form or the `[{key, value}]` form. */
function keyValueName(tree: unknown, path: readonly (string | number)[]): string {
  const [, , , , , key, part] = path;
  if (typeof key === 'string') return key;
  if (part !== 'value') return '';
  let node: unknown = tree;
  for (const step of [...path.slice(0, 6), 'key']) node = (node as Record<string | number, unknown> | undefined)?.[step];
  return typeof node === 'string' ? node : '';
}

/** The credentials an app's auth holds (also when written literally in the file). */
export function authSecrets(auth: AuthConfig): string[] {
  switch (auth.type) {
    case 'basic':
      return [auth.password, Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')];
    case 'bearer':
      return [auth.token];
    case 'oauth2':
      return [auth.client_secret];
    default:
      return [];
  }
}

/** A secret too short to be told apart from ordinary text cannot be redacted: refused, naming the field. */
export function shortSecretProblem(path: readonly (string | number)[], value: string): string | undefined {
  if (value.length === 0 || value.length >= MIN_SECRET_CHARS) return undefined;
  return `${formatPath(path)}: a secret of fewer than ${MIN_SECRET_CHARS} characters cannot be kept out of results and logs; use a longer one`;
}
