import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks signature headers (standardwebhooks.com): the receiver recomputes the
 * HMAC-SHA256 of `id.timestamp.body` with the shared key, and refuses stale timestamps, so a
 * captured request cannot be replayed later or altered. One `v1,` signature per key,
 * space-separated: while a receiver changes secrets, it accepts the request with either.
 * @param keys the current key first
 * @param id the message id: the request's Idempotency-Key, the same for every retry of the app
 * @param body exactly the bytes sent ('' without a body)
 */
export function signatureHeaders(keys: readonly Buffer[], id: string, body: string, nowMs = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const content = `${id}.${timestamp}.${body}`;
  let signatures = '';
  for (const key of keys) signatures += `${signatures === '' ? '' : ' '}v1,${createHmac('sha256', key).update(content).digest('base64')}`;
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures };
}
