import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, query } from '../api';
import { ErrorBox, Status, Time } from '../components/status';
import { href, useEvery, type Route } from '../router';
import type { CallList, CallStatus, Policies } from '../types';

const STATUSES: CallStatus[] = ['queued', 'running', 'completed', 'partial', 'failed', 'unmatched'];
const RANGES: [string, string][] = [
  ['', 'any time'],
  ['15m', 'last 15 minutes'],
  ['1h', 'last hour'],
  ['24h', 'last 24 hours'],
  ['7d', 'last 7 days'],
];

/** The filter form's fields, as typed (applied once submitted). */
interface Draft {
  status: string[];
  policy: string;
  number: string;
  since: string;
}
const draftOf = (params: URLSearchParams): Draft => ({ status: params.getAll('status'), policy: params.get('policy') ?? '', number: params.get('number') ?? '', since: params.get('since') ?? '' });

/** Calls, newest first, filtered by the route's query (so a filtered view can be bookmarked); refreshes itself on the first page. */
export function CallsScreen({ route, policies }: { route: Route; policies: Policies | undefined }) {
  const params = route.params;
  const statuses = params.getAll('status');
  const cursor = params.get('cursor') ?? '';
  const [list, setList] = useState<CallList>();
  const [error, setError] = useState<unknown>();
  // The form holds what the operator is typing, not the route: the 5-s refresh re-renders this
  // screen, and inputs bound to the route's parameters were set back to them (a half-typed
  // number, a ticked status cleared). A new address (Filter, a link, Back) sets the form again.
  const [draft, setDraft] = useState(() => draftOf(params));
  useEffect(() => setDraft(draftOf(params)), [params.toString()]);
  const edit = (changes: Partial<Draft>) => setDraft((d) => ({ ...d, ...changes }));

  const load = useCallback(() => {
    const q = query({ status: statuses, policy: params.get('policy') ?? '', number: params.get('number') ?? '', since: params.get('since') ?? '', cursor, limit: '50' });
    api<CallList>(`/v1/calls${q}`).then(
      (answer) => {
        setList(answer);
        setError(undefined);
      },
      (e: unknown) => setError(e),
    );
  }, [params.toString()]);
  useEffect(load, [load]);
  useEvery(5000, load, cursor === '');

  const go = (changes: Record<string, string | string[]>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      next.delete(key);
      for (const v of [value].flat()) if (v) next.append(key, v);
    }
    if (!('cursor' in changes)) next.delete('cursor');
    location.hash = href(['calls'], next);
  };
  const onSubmit = (event: Event) => {
    event.preventDefault();
    go({ status: STATUSES.filter((s) => draft.status.includes(s)), policy: draft.policy, number: draft.number.trim(), since: draft.since });
  };

  return (
    <section aria-labelledby="calls-title">
      <h1 id="calls-title">Calls</h1>
      <form class="filters" onSubmit={onSubmit} aria-label="Filter calls">
        <fieldset>
          <legend>Status</legend>
          {STATUSES.map((s) => (
            <label key={s} class="check">
              <input
                type="checkbox"
                name="status"
                value={s}
                checked={draft.status.includes(s)}
                onChange={(e) => {
                  const on = e.currentTarget.checked;
                  setDraft((d) => ({ ...d, status: on ? [...d.status.filter((x) => x !== s), s] : d.status.filter((x) => x !== s) }));
                }}
              />{' '}
              {s}
            </label>
          ))}
        </fieldset>
        <label>
          Policy
          <select name="policy" value={draft.policy} onChange={(e) => edit({ policy: e.currentTarget.value })}>
            <option value="">any policy</option>
            {policies?.policies.map((p) => (
              <option key={p.id} value={p.id}>
                {p.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Number
          <input name="number" type="search" placeholder="calling or called" value={draft.number} onInput={(e) => edit({ number: e.currentTarget.value })} />
        </label>
        <label>
          Changed
          <select name="since" value={draft.since} onChange={(e) => edit({ since: e.currentTarget.value })}>
            {RANGES.map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={error} />
      {list && (
        <>
          <p class="muted" aria-live="polite">
            {list.calls.length === 0 ? 'No calls match.' : `${list.calls.length} call${list.calls.length === 1 ? '' : 's'}${cursor ? '' : ', newest first, refreshing every 5 s'}`}
          </p>
          <table class="calls">
            <thead>
              <tr>
                <th scope="col">Call</th>
                <th scope="col">Status</th>
                <th scope="col">Policy</th>
                <th scope="col">From → to</th>
                <th scope="col">Finished</th>
                <th scope="col">Apps</th>
              </tr>
            </thead>
            <tbody>
              {list.calls.map((call) => (
                <tr key={call.call_id}>
                  <td>
                    <a href={href(['calls', call.call_id])}><bdi>{call.call_id}</bdi></a>
                  </td>
                  <td>
                    <Status value={call.status} />
                  </td>
                  <td>{call.policy ?? <span class="muted">–</span>}</td>
                  <td>
                    <bdi>{call.calling_number}</bdi> → <bdi>{call.called_number}</bdi>
                  </td>
                  <td>
                    <Time iso={call.finished_at} />
                  </td>
                  <td class="apps">
                    {Object.entries(call.apps).map(([slug, status]) => (
                      <span key={slug} class="app">
                        {slug} <Status value={status} />
                      </span>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav class="pager" aria-label="Pages">
            {cursor && <button onClick={() => go({ cursor: '' })}>Newest</button>}
            {list.next_cursor && <button onClick={() => go({ cursor: list.next_cursor ?? '' })}>Older calls</button>}
          </nav>
        </>
      )}
    </section>
  );
}
