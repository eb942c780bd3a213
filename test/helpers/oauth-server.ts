import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

export interface TokenRequest {
  status: number;
  token: string | null;
  grant_type: string;
  scope: string | null;
  basic: boolean;
}

/**
 * Starts a real OAuth2 server (oauth2-mock-server in a child process, port 0) that issues
 * client-credentials tokens to `clientId`/`clientSecret` only, and records each token request.
 * `delayMs`: each token request waits that long before the server sees it (a slow endpoint).
 */
export async function startOAuthServer(options: { clientId?: string; clientSecret?: string; expiresIn?: number; delayMs?: number } = {}) {
  const child = spawn(process.execPath, [join(__dirname, 'oauth-server-process.mjs')], {
    env: {
      ...process.env,
      CLIENT_ID: options.clientId ?? 'callhook-client',
      CLIENT_SECRET: options.clientSecret ?? 'oauth-client-secret-value',
      ...(options.expiresIn ? { EXPIRES_IN: String(options.expiresIn) } : {}),
      ...(options.delayMs ? { DELAY_MS: String(options.delayMs) } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tokenRequests: TokenRequest[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`oauth server exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { event: string; url?: string } & TokenRequest;
      if (message.event === 'ready') resolve(message.url ?? '');
      else tokenRequests.push(message);
    });
  });
  return {
    tokenUrl: `${url}/token`,
    tokenRequests,
    issuedTokens: () => tokenRequests.filter((r) => r.token).map((r) => r.token as string),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
