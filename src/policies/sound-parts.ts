import { appSchema, policySchema, type PolicyInput } from './schema';

/** A policy to compile; `appIndexes[i]` is the file index of `input.apps[i]` when some apps were left out. */
export interface PolicyToCompile {
  readonly index: number;
  readonly input: PolicyInput;
  readonly appIndexes?: readonly number[];
}

/** A policy whose `id` does not parse; no valid id is empty, so no duplicate check matches it. */
export const UNKNOWN_POLICY_ID = '';

/**
 * The parts of a file that failed the schema which pass it on their own: each policy's apps,
 * `match` and `curri` that parse alone. Compiling them reports their template, URL and slug
 * problems beside the schema's, instead of hiding them until the schema's are fixed. Only a
 * part that parsed is compiled, so each problem found is one the whole file has too.
 */
export function soundPolicies(tree: unknown): PolicyToCompile[] {
  const policies = isObject(tree) && Array.isArray(tree.policies) ? tree.policies : [];
  const sound: PolicyToCompile[] = [];
  policies.forEach((raw: unknown, index) => {
    if (!isObject(raw)) return;
    const { shape } = policySchema;
    const apps: PolicyInput['apps'] = [];
    const appIndexes: number[] = [];
    (Array.isArray(raw.apps) ? raw.apps : []).forEach((app: unknown, appIndex) => {
      const parsed = appSchema.safeParse(app);
      if (!parsed.success) return;
      apps.push(parsed.data);
      appIndexes.push(appIndex);
    });
    const input: PolicyInput = {
      id: shape.id.safeParse(raw.id).data ?? UNKNOWN_POLICY_ID,
      description: undefined,
      match: shape.match.safeParse(raw.match).data,
      apps,
      curri: shape.curri.safeParse(raw.curri).data,
    };
    sound.push({ index, input, appIndexes });
  });
  return sound;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
