import type { CallRecord } from '../model/call';
import type { Policy } from '../policies/types';
import { appsOf } from './runner';

/** A call's results in the order its apps run (real-time first), then any the policy no longer has. */
export function inRunOrder<T>(appData: Record<string, T>, policy: Policy | undefined): Record<string, T> {
  if (!policy) return appData;
  const order = appsOf(policy, ['real_time', 'post_call']).map((a) => a.slug);
  const known = order.filter((slug) => slug in appData);
  const rest = Object.keys(appData).filter((slug) => !order.includes(slug));
  return Object.fromEntries([...known, ...rest].map((slug) => [slug, appData[slug]!]));
}

/** The call as the API shows it: results in run order. */
export function presentCall(record: CallRecord, policies: ReadonlyMap<string, Policy>): CallRecord {
  return { ...record, app_data: inRunOrder(record.app_data, record.policy ? policies.get(record.policy) : undefined) };
}
