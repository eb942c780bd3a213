/** Stops the process with one clear line per problem (exit 1, or the command's own code for it). */
export function fail(lines: string | readonly string[], exitCode = 1): never {
  for (const line of [lines].flat()) process.stderr.write(`callhook: ${line}\n`);
  process.exit(exitCode);
}
