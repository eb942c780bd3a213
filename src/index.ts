/**
 * The `callhook` package: the HTTP client of a callhook API (also `callhook/client`, which loads
 * nothing else) and the in-process producer for code that shares callhook's Redis. README, Use
 * it from TypeScript.
 */
export * from './client/index';
export { CallhookEventError, createProducer } from './producer';
export type { Producer, ProducerOptions } from './producer';
export { CallhookError, SettingsError } from './errors';
