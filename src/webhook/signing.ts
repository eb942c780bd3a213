import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks signature headers (standardwebhooks.com): the receiver recomputes the
 * HMAC-SHA256 of `id.timestamp.body` with the shared key, and refuses stale timestamps, so a
 * captured request cannot be replayed later or altered.
 * @param id the message id: the request's Idempotency-Key, the same for every retry of the app
 * @param body exactly the bytes sent ('' without a body)
 */
export function signatureHeaders(key: Buffer, id: string, body: string, nowMs = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
