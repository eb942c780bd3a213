import type { FastifyReply } from 'fastify';
import { httpStatusOf, type ApiErrorCode } from '../errors';

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_S = 5;

/** The API's error answer: `{error: {code, message, problems?}}` with the code's HTTP status. */
export function problem(reply: FastifyReply, code: ApiErrorCode, message: string, problems?: readonly string[]) {
  const status = httpStatusOf(code);
  if (status === 503) reply.header('retry-after', String(RETRY_AFTER_S));
  return reply.code(status).send({ error: { code, message, ...(problems ? { problems } : {}) } });
}
