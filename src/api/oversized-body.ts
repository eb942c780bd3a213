import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import { problem } from './problem';

/**
 * A body whose Content-Length is over its route's limit is read to its end and thrown away,
 * then answered 413. Fastify answered at once and closed the connection while the body was
 * still coming: only clients that wait for `100 Continue` (curl) read the 413; Node's fetch and
 * http and Python's urllib got EPIPE, and the HTTP client retried the whole upload. Answering
 * first does not help a client that asked for `Connection: close` (urllib, an agentless Node
 * request): Node closes such a connection as soon as the answer is written.
 *
 * Discarding holds no memory (each chunk is dropped as it comes). A body declared over
 * `discardCapBytes` is not read: it is answered at once and its connection closed. The server's
 * request timeout (SERVER_TIMEOUTS.requestMs) still bounds how long the whole request may take,
 * so a slow sender cannot hold the socket (it gets the 408 instead).
 *
 * A route hook, so the access guard (an app hook) answers first; not on `/curri`, which answers
 * any body it cannot read with its fail-open XML, by its own deadline.
 */
export function registerOversizedBody(app: FastifyInstance, discardCapBytes: number): void {
  app.addHook('onRoute', (route) => {
    if (route.url === '/curri' || [route.method].flat().every((method) => method === 'GET' || method === 'HEAD')) return;
    const limit = route.bodyLimit ?? app.initialConfig.bodyLimit ?? Infinity;
    const refuse = refuseOversized(limit, discardCapBytes, `${[route.method].flat().join(',')} ${route.url}`);
    route.onRequest = [...[route.onRequest ?? []].flat(), refuse] as RouteOptions['onRequest'];
  });
}

function refuseOversized(limit: number, discardCapBytes: number, route: string) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const declared = Number(request.headers['content-length']);
    if (!(declared > limit)) return done();
    const answer = () => void problem(reply, 'CALLHOOK_EVENT_TOO_LARGE', `the request body is ${declared} bytes; ${route} takes at most ${limit}: send less (a batch as smaller ones)`);
    if (declared <= discardCapBytes) return void discardBody(request.raw).then(answer);
    reply.header('connection', 'close');
    answer();
  };
}

/** Reads a request body to its end, keeping none of it; resolves at its end or when the connection closes. */
function discardBody(body: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    body.once('end', resolve);
    body.once('close', resolve);
    body.resume();
  });
}
