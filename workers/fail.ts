/** Stops the process with one clear line per problem (exit 1). */
export function fail(lines: string | readonly string[]): never {
  for (const line of [lines].flat()) process.stderr.write(`callhook: ${line}\n`);
  process.exit(1);
}
