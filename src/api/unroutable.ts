import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { refuseAccess } from './guard';
import { problem } from './problem';

/**
 * Answers a request the router cannot match at all: a path that does not decode (`%zz`) or a
 * segment longer than routerOptions.maxParamLength. Fastify calls this (its `frameworkErrors`)
 * before any hook, so the guard runs here first, as for an unknown route: without the token
 * such a path reveals nothing, not even that it is malformed. As no route or call can have
 * such a name it is then a 404, on the call routes CALLHOOK_CALL_NOT_FOUND as their
 * documentation says of an id that could not exist.
 */
export function answerUnroutable(apiToken: string | undefined) {
  return (_error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (refuseAccess(request, reply, apiToken, 'token')) return reply;
    const callId = callIdOf(request.method, request.url);
    if (callId !== undefined) return problem(reply, 'CALLHOOK_CALL_NOT_FOUND', `no call ${callId}`);
    return problem(reply, 'CALLHOOK_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
  };
}

/** The call id of `GET|HEAD /v1/calls/<id>` or `POST /v1/calls/<id>/replay`, each segment decoded where it decodes. */
function callIdOf(method: string, url: string): string | undefined {
  const [root, version, calls, id, action, ...rest] = url.split(/[?#]/, 1)[0]!.split('/').map(decodeLeniently);
  if (root !== '' || version !== 'v1' || calls !== 'calls' || !id || rest.length > 0) return undefined;
  const isCallRoute = action === undefined ? method === 'GET' || method === 'HEAD' : action === 'replay' && method === 'POST';
  return isCallRoute ? id : undefined;
}

function decodeLeniently(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
