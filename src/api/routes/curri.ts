import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { answerCurri, answerLate, answerUnreadable, answerWithinMs, type CurriDeps } from '../../curri/handler';
import type { Metrics } from '../../metrics/metrics';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Takes the API token as `?api_key=` (CUCM cannot send an Authorization header). */
    apiKey?: boolean;
  }
  interface FastifyRequest {
    /** A CURRI request's deadline: set when it arrived, before its body is read (`POST /curri` only). */
    curriDeadline: CurriDeadline | null;
  }
}

interface CurriDeadline {
  /** When the request arrived (epoch ms): the CURRI timeout counts from here, body included. */
  startedAt: number;
  /** Answers fail-open if the body has not been read by the deadline; cleared once it has. */
  timer: NodeJS.Timeout | undefined;
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
    // CALLHOOK_CURRI_TIMEOUT bounds the whole request, its body included: the clock starts when
    // the request arrives (after the token check), and a body still arriving at the deadline
    // gets the fail-open answer then, not whenever it ends (or Node's request timeout, a 408).
    scope.decorateRequest('curriDeadline', null);
    const answerWithin = answerWithinMs(deps.curri.timeoutMs);
    scope.addHook('onRequest', (request, reply, done) => {
      if (request.method === 'POST') {
        const deadline: CurriDeadline = { startedAt: Date.now(), timer: undefined };
        deadline.timer = setTimeout(() => answerBodyLate(request, reply, deadline), answerWithin);
        request.curriDeadline = deadline;
      }
      done();
    });
    const answerBodyLate = (request: FastifyRequest, reply: FastifyReply, deadline: CurriDeadline) => {
      if (reply.sent || request.raw.destroyed) return; // answered (an unreadable body), or CUCM went away
      const answer = answerLate(deps.curri);
      deps.metrics?.curriAnswered(answer.decision, answer.outcome, Date.now() - deadline.startedAt);
      // The rest of the body may still come, or never: the connection cannot carry another
      // request, so it is closed once the answer is out (Node then stops reading it, and its
      // request timeout cannot answer a second time). Fastify skips the route's handler for a
      // request already answered when its body ends.
      void reply.code(200).header('connection', 'close').type('text/xml; charset=utf-8').send(answer.xml);
    };
    // A body CUCM cannot have meant (over the limit, cut off) still gets an answer CUCM reads,
    // the fail-open continue, rather than an HTTP error it would treat as a failure.
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      clearTimeout(request.curriDeadline?.timer);
      if (!error.statusCode || error.statusCode >= 500) throw error; // the API's own handler: a server error
      const answer = answerUnreadable(error.message, deps.curri);
      deps.metrics?.curriAnswered(answer.decision, answer.outcome, request.curriDeadline ? Date.now() - request.curriDeadline.startedAt : 0);
      return reply.code(200).type('text/xml; charset=utf-8').send(answer.xml);
    });
    // What follows an answer (the call's results stored, its post-call apps queued) is waited for
    // when the API stops, before its Redis connection closes: else a call answered just before a
    // restart lost its post-call apps.
    const afterAnswers = new Set<Promise<void>>();
    scope.addHook('onClose', async () => {
      await Promise.all(afterAnswers);
    });
    const config = { apiKey: true };
    scope.head('/curri', { config }, (_request, reply) => reply.code(200).type('text/xml; charset=utf-8').send());
    scope.post('/curri', { config, bodyLimit: CURRI_BODY_BYTES }, async (request, reply) => {
      // The body is in: the rest of the deadline is answerCurri's (its apps end by it).
      clearTimeout(request.curriDeadline?.timer);
      const startedAt = request.curriDeadline?.startedAt ?? Date.now();
      // 'close': the answer is written, or CUCM went away first (it then applies its failure
      // treatment, and the call still happens). Listened for from the start, as it may come first.
      const answered = new Promise<void>((resolve) => reply.raw.once('close', resolve));
      const answer = await answerCurri(typeof request.body === 'string' ? request.body : '', startedAt, deps.curri);
      // CUCM went away before its answer (it applied its failure treatment): not counted as an answer it read.
      deps.metrics?.curriAnswered(answer.decision, reply.raw.destroyed ? 'client_gone' : answer.outcome, Date.now() - startedAt);
      if (answer.afterAnswer) {
        const after = answered
          .then(answer.afterAnswer)
          .catch((error: unknown) => deps.curri.logger.warn({ call_id: answer.call_id, err: (error as Error).message }, 'curri: could not store the call or queue its post-call apps'))
          .finally(() => afterAnswers.delete(after));
        afterAnswers.add(after);
      }
      return reply.type('text/xml; charset=utf-8').send(answer.xml);
    });
  });
}
