import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type CreateAxiosDefaults } from 'axios';
import axiosRetry from 'axios-retry';

/**
 * The one axios instance used for every webhook and token request: keep-alive sockets (a new
 * TCP/TLS handshake per call would dominate latency), no throwing on HTTP status (the sender
 * classifies statuses itself), no redirects (a redirect would resend call data and credentials
 * to a place the policy does not name), and the body kept as text so we decide how to parse it.
 */
export function createHttpClient(options: { maxSockets?: number } = {}): AxiosInstance {
  // axios sets a 60 s TCP keep-alive delay on each request's socket and the agent its own
  // (default 1 s) when the socket is released: with the two differing, Node re-set four socket
  // options twice per request (8 setsockopt calls). Agreeing on 60 s makes it once per socket.
  const agentOptions = { keepAlive: true, keepAliveMsecs: 60_000, maxSockets: options.maxSockets ?? 256, scheduling: 'lifo' as const };
  const client = axios.create({
    httpAgent: new http.Agent(agentOptions),
    httpsAgent: new https.Agent(agentOptions),
    validateStatus: () => true,
    maxRedirects: 0,
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    transitional: { clarifyTimeoutError: true },
    proxy: false,
  });
  return client;
}

const retryingClients = new WeakMap<AxiosInstance, AxiosInstance>();

/**
 * The same client (its defaults, copied on first use, and its keep-alive sockets) with
 * axios-retry installed, for requests that retry in the request (real-time apps, Call Test).
 * Post-call requests use the plain client: they retry through BullMQ, and axios-retry's
 * interceptors would cost every request a promise chain.
 */
export function retryingClient(client: AxiosInstance): AxiosInstance {
  let retrying = retryingClients.get(client);
  if (!retrying) {
    retrying = axios.create(client.defaults as CreateAxiosDefaults);
    // Off unless a request carries its own settings (see inRequestRetries).
    axiosRetry(retrying, { retries: 0 });
    retryingClients.set(client, retrying);
  }
  return retrying;
}

/** Closes the instance's idle keep-alive sockets (for a clean shutdown and for tests). */
export function closeHttpClient(client: AxiosInstance): void {
  (client.defaults.httpAgent as http.Agent | undefined)?.destroy();
  (client.defaults.httpsAgent as https.Agent | undefined)?.destroy();
}
