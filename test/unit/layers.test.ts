import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The rules of docs/architecture.md, checked on the source: a file imports only from its own
 * layer or a lower one (data flows one way), the import graph has no cycle, and only the
 * adapters touch Redis, BullMQ, axios or Fastify.
 */
const SRC = resolve(__dirname, '../../src');
const LAYERS: [RegExp, number][] = [
  [/^(util\/|errors\.ts|defaults\.ts|version\.ts)/, 0],
  [/^(model\/|settings\.ts|logger\.ts)/, 1],
  [/^templates\//, 2],
  [/^policies\//, 3],
  [/^events\//, 4],
  [/^webhook\//, 5],
  [/^pipeline\//, 6],
  [/^(store|metrics|delivery)\//, 7],
  [/^queue\//, 8],
  [/^(api|cdr|demo|results|console|curri|call-test|client)\//, 9],
  [/^(runtime|callhook|producer|index)\.ts$/, 10],
];
const DOMAIN = /^(model|templates|policies|events|pipeline|call-test)\//;
const ADAPTER_PACKAGES = /^(ioredis|bullmq|axios|axios-retry|fastify)$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(file: string): number {
  const rel = relative(SRC, file);
  const found = LAYERS.find(([pattern]) => pattern.test(rel));
  if (!found) throw new Error(`${rel} is in no layer: add its folder to LAYERS and docs/architecture.md`);
  return found[1];
}

const graph = new Map<string, { local: string[]; packages: string[] }>();
for (const file of files(SRC)) {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)[^;]*?from '([^']+)';/gms)].map((m) => m[1]!);
  const local = specifiers.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s) + '.ts');
  const packages = specifiers.filter((s) => !s.startsWith('.') && !s.startsWith('node:'));
  graph.set(file, { local, packages });
}
const rel = (file: string) => relative(SRC, file);

describe('the import graph', () => {
  it('every import goes to the same layer or a lower one', () => {
    const upward: string[] = [];
    for (const [file, { local }] of graph) {
      for (const target of local) if (layerOf(target) > layerOf(file)) upward.push(`${rel(file)} → ${rel(target)}`);
    }
    expect(upward).toEqual([]);
  });

  it('has no cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map(rel).join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const target of graph.get(file)?.local ?? []) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('domain code depends on no queue, Redis, HTTP client or server package', () => {
    const found = [...graph].filter(([file]) => DOMAIN.test(rel(file))).flatMap(([file, { packages }]) => packages.filter((p) => ADAPTER_PACKAGES.test(p)).map((p) => `${rel(file)} imports ${p}`));
    expect(found).toEqual([]);
  });

  it('the HTTP client is src/client/ and two files of util/, with no package: the README tells how to vendor those', () => {
    const reached = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const target of graph.get(file)?.local ?? []) visit(target);
    };
    visit(join(SRC, 'client/index.ts'));
    expect([...reached].map(rel).sort()).toEqual(['client/client.ts', 'client/index.ts', 'client/retry.ts', 'client/types.ts', 'util/duration.ts', 'util/retry-after.ts']);
    expect([...reached].flatMap((file) => graph.get(file)!.packages)).toEqual([]);
  });

  it('no code in src/ reads process.env: settings come in as a parameter (workers/ read the environment)', () => {
    const code = (file: string) => readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect([...graph.keys()].filter((file) => /process\.env/.test(code(file))).map(rel)).toEqual([]);
  });
});
