export default async function globalTeardown(): Promise<void> {
  const container = (globalThis as { __redisContainer?: { stop(): Promise<unknown> } }).__redisContainer;
  await container?.stop();
}
