import type { FastifyError, FastifyInstance } from 'fastify';
import { answerCurri, answerUnreadable, type CurriDeps } from '../../curri/handler';
import type { Metrics } from '../../metrics/metrics';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Takes the API token as `?api_key=` (CUCM cannot send an Authorization header). */
    apiKey?: boolean;
  }
}

/** A CURRI request is a few KiB of XML. */
const CURRI_BODY_BYTES = 64 * 1024;

/**
 * `POST /curri` (CUCM's External Call Control request) and `HEAD /curri` (its health check), in
 * a scope of their own that reads XML bodies. The answer is always a 200 XACML response: a
 * failure answers the policy's error decision, never an HTTP error CUCM would treat as one.
 */
export function registerCurriRoutes(app: FastifyInstance, deps: { curri: CurriDeps; metrics?: Metrics | undefined }): void {
  void app.register(async (scope) => {
    // CUCM sends text/xml; anything else (JSON included) is still read as text and parsed, or
    // answered fail-open.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: CURRI_BODY_BYTES }, (_request, body, done) => done(null, body));
    // A body CUCM cannot have meant (over the limit, cut off) still gets an answer CUCM reads,
    // the fail-open continue, rather than an HTTP error it would treat as a failure.
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      if (!error.statusCode || error.statusCode >= 500) throw error; // the API's own handler: a server error
      const answer = answerUnreadable(error.message, deps.curri);
      deps.metrics?.curriAnswered(answer.decision, answer.outcome, 0);
      return reply.code(200).type('text/xml; charset=utf-8').send(answer.xml);
    });
    const config = { apiKey: true };
    scope.head('/curri', { config }, (_request, reply) => reply.code(200).type('text/xml; charset=utf-8').send());
    scope.post('/curri', { config, bodyLimit: CURRI_BODY_BYTES }, async (request, reply) => {
      const startedAt = Date.now();
      // 'close': the answer is written, or CUCM went away first (it then applies its failure
      // treatment, and the call still happens). Listened for from the start, as it may come first.
      const answered = new Promise<void>((resolve) => reply.raw.once('close', resolve));
      const answer = await answerCurri(typeof request.body === 'string' ? request.body : '', startedAt, deps.curri);
      deps.metrics?.curriAnswered(answer.decision, answer.outcome, Date.now() - startedAt);
      if (answer.afterAnswer) {
        answered
          .then(answer.afterAnswer)
          .catch((error: unknown) => deps.curri.logger.warn({ call_id: answer.call_id, err: (error as Error).message }, 'curri: could not store the call or queue its post-call apps'));
      }
      return reply.type('text/xml; charset=utf-8').send(answer.xml);
    });
  });
}
