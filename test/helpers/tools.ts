import { execFileSync } from 'node:child_process';

/**
 * The path of an operator tool a test runs (promtool, systemd-analyze): `$<ENV>` when set, else
 * the one on PATH. A missing tool fails the test with how to install it, never skips it: CI
 * (.ci/run) installs both, so a test that passes there has really run them.
 */
export function requireTool(name: string, envVar: string, install: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${name} is not installed, and this test runs it: ${install} (or set ${envVar} to its path). .ci/run installs it when missing.`);
  }
}

export const promtool = () => requireTool('promtool', 'PROMTOOL', 'apt-get install -y prometheus (Debian ships promtool with it)');

/** Every metric name a PromQL expression reads (`callhook_…` and any other), functions, keywords and labels left out. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings (label values)
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges, subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // grouping labels
    .replace(/\$\w+/g, ''); // Grafana variables ($job, $__rate_interval)
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);
  return [...stripped.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)]
    .map((m) => m[1]!)
    .filter((name) => !keywords.has(name.toLowerCase()));
}

/** The metric names that have at least one sample in a Prometheus text exposition. */
export function sampledNames(exposition: string): Set<string> {
  return new Set(exposition.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => /^[a-zA-Z_:][\w:]*/.exec(line)?.[0] ?? ''));
}

export const systemdAnalyze = () => requireTool('systemd-analyze', 'SYSTEMD_ANALYZE', 'apt-get install -y systemd');
