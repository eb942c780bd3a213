/** The console's one way to the API: same origin, with the token when one was given. */

const TOKEN_KEY = 'callhook.token';

/** The API token, kept for this browser tab only (sessionStorage). */
export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An API error answer: `{error: {code, message, problems?}}` with its status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: string[] = [],
  ) {
    super(message);
  }
}

/** What a token can hold: an HTTP header cannot carry anything else, and fetch throws before asking. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/** The code of a token refused here, before any request: it could never be sent. */
export const UNSENDABLE_TOKEN = 'CALLHOOK_TOKEN_UNSENDABLE';

let refused: ((error: ApiError) => void) | undefined;

/** Called whenever the API refuses the token a request carried (it was changed since it was given). */
export function onTokenRefused(handler: (error: ApiError) => void): void {
  refused = handler;
}

/** Calls the API; resolves with the parsed JSON, rejects with an ApiError (401 when the token is missing, wrong or unsendable). */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const bearer = token.get();
  if (bearer && !TOKEN_CHARS.test(bearer)) {
    throw new ApiError(401, UNSENDABLE_TOKEN, 'a token holds only ASCII letters, digits and punctuation: was a character changed when it was pasted (’ for \')?');
  }
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await response.text();
  if (!response.ok) {
    // A proxy in front of the API may answer with a page of its own, not callhook's JSON.
    const error = (parsed(text) as { error?: { code: string; message: string; problems?: string[] } } | undefined)?.error;
    const failure = new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? `HTTP ${response.status}`, error?.problems);
    if (response.status === 401 && bearer) refused?.(failure);
    throw failure;
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A query string from the set values of `params` (arrays repeat the key). */
export function query(params: Record<string, string | string[] | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of [value ?? []].flat()) if (v !== '') search.append(key, v);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
