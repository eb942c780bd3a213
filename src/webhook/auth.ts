import type { AuthConfig } from '../policies/types';
import type { OAuthTokenCache } from './oauth';

/** The Authorization header for an app, or undefined for `auth: none`. */
export async function authorizationHeader(auth: AuthConfig, tokens: OAuthTokenCache): Promise<string | undefined> {
  switch (auth.type) {
    case 'none':
      return undefined;
    case 'basic':
      return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
    case 'bearer':
      return `Bearer ${auth.token}`;
    case 'oauth2':
      return `Bearer ${await tokens.getToken(auth)}`;
  }
}
