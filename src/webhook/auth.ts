import type { AuthConfig } from '../policies/types';
import type { OAuthTokenCache } from './oauth';

/**
 * The Authorization header for an app, or undefined for `auth: none`. Only OAuth2 needs to
 * wait (for a token), so only it returns a promise: the other kinds cost no extra await.
 */
export function authorizationHeader(auth: AuthConfig, tokens: OAuthTokenCache): string | undefined | Promise<string> {
  switch (auth.type) {
    case 'none':
      return undefined;
    case 'basic':
      return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
    case 'bearer':
      return `Bearer ${auth.token}`;
    case 'oauth2':
      return tokens.getToken(auth).then((token) => `Bearer ${token}`);
  }
}
