import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError } from 'fastify';
import type { SERVER_TIMEOUTS } from '../defaults';
import { httpStatusOf, type ApiErrorCode } from '../errors';

/**
 * Answers what Node's HTTP parser refuses before any route runs (a request that is not HTTP,
 * headers over the limit, a request too slow to arrive) in the API's error format: Fastify's
 * default handler answered its own `{"error","message","statusCode"}`. There is no reply object
 * at that point, so the answer is written on the socket, which is then closed: the parser
 * cannot read another request after such an error.
 */
export function answerClientError(timeouts: typeof SERVER_TIMEOUTS) {
  return (error: ConnectionError, socket: Socket): void => {
    // A reset connection has nobody left to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    // As Node itself does: never write into an answer already under way on this connection.
    if (socket.writable && !answerStarted(socket)) socket.write(rawAnswer(...describe(error, timeouts)));
    socket.destroy(error);
  };
}

function describe(error: ConnectionError, timeouts: typeof SERVER_TIMEOUTS): [ApiErrorCode, string] {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return ['CALLHOOK_REQUEST_TIMEOUT', `the request did not arrive in time: its headers within ${seconds(timeouts.headersMs)}, all of it within ${seconds(timeouts.requestMs)}`];
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') return ['CALLHOOK_HEADERS_TOO_LARGE', `the request line and headers are over ${maxHeaderSize} bytes`];
  return ['CALLHOOK_BAD_REQUEST', `the request is not well-formed HTTP (${error.code ?? error.message})`];
}

function rawAnswer(code: ApiErrorCode, message: string): string {
  const status = httpStatusOf(code);
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** Whether a response on this socket has sent its headers (Node's own check, on its socket field). */
function answerStarted(socket: Socket): boolean {
  return (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
}

const seconds = (ms: number) => `${ms / 1000} s`;
