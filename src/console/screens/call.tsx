import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { Json } from '../components/json';
import { ErrorBox, Status, Time } from '../components/status';
import { useEvery } from '../router';
import type { AppResult, CallRecord } from '../types';

/** One call: its event, then each app in run order with its attempts, request and data; Replay for failed calls. */
export function CallScreen({ callId }: { callId: string }) {
  const [call, setCall] = useState<CallRecord>();
  const [error, setError] = useState<unknown>();
  const [replay, setReplay] = useState<{ ok: boolean; text: string }>();

  const load = useCallback(() => {
    api<CallRecord>(`/v1/calls/${encodeURIComponent(callId)}`).then(
      (answer) => {
        setCall(answer);
        setError(undefined);
      },
      (e: unknown) => setError(e),
    );
  }, [callId]);
  useEffect(load, [load]);
  useEvery(2000, load, !call || call.status === 'queued' || call.status === 'running');

  const onReplay = async () => {
    try {
      const answer = await api<{ replayed: string[] }>(`/v1/calls/${encodeURIComponent(callId)}/replay`, { method: 'POST' });
      setReplay({ ok: true, text: `Queued again: ${answer.replayed.join(', ') || 'no app to run'}.` });
      load();
    } catch (e) {
      setReplay({ ok: false, text: e instanceof ApiError ? `Replay refused (${e.status}): ${e.message}` : String(e) });
    }
  };

  if (error) return <ErrorBox error={error} />;
  if (!call) return <p class="loading">Loading call <bdi>{callId}</bdi>…</p>;
  const replayable = call.status === 'failed' || call.status === 'partial';
  return (
    <section aria-labelledby="call-title">
      <h1 id="call-title">
        Call <code><bdi>{call.call_id}</bdi></code> <Status value={call.status} />
      </h1>
      <dl class="facts">
        <dt>Policy</dt>
        <dd>{call.policy ?? '–'}</dd>
        <dt>From → to</dt>
        <dd>
          <bdi>{call.event.calling_number}</bdi> → <bdi>{call.event.called_number}</bdi>
        </dd>
        <dt>Created</dt>
        <dd>
          <Time iso={call.created_at} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Time iso={call.finished_at} />
        </dd>
      </dl>
      {(replayable || replay) && (
        <div class="actions">
          {replayable && <button onClick={onReplay}>Replay failed apps</button>}
          {replay && (
            <p class={replay.ok ? 'notice' : 'error'} role="status">
              {replay.text}
            </p>
          )}
        </div>
      )}
      <h2>Event</h2>
      <Json value={call.event} label="Event" />
      <h2>Apps, in run order</h2>
      {Object.keys(call.app_data).length === 0 && <p class="muted">No app has a result yet.</p>}
      {Object.entries(call.app_data).map(([slug, result]) => (
        <AppCard key={slug} slug={slug} result={result} />
      ))}
    </section>
  );
}

function AppCard({ slug, result }: { slug: string; result: AppResult }) {
  return (
    <article class="card" aria-label={`App ${slug}`}>
      <h3>
        {slug} <Status value={result.status} /> {result.http_status !== null && <span class="muted">HTTP {result.http_status}</span>}
      </h3>
      <p>Message: <bdi>{result.message}</bdi></p>
      {result.error && (
        <p class="error">
          <strong>{result.error.code}</strong>: <bdi>{result.error.message}</bdi>
        </p>
      )}
      <p class="muted">
        {result.attempts} attempt{result.attempts === 1 ? '' : 's'}, {result.duration_ms} ms
        {result.unresolved.length > 0 && `, unresolved: ${result.unresolved.join(', ')}`}
      </p>
      {result.attempts_log.length > 0 && (
        <table class="attempts">
          <caption>Attempts</caption>
          <thead>
            <tr>
              <th scope="col">At</th>
              <th scope="col">HTTP</th>
              <th scope="col">Duration</th>
              <th scope="col">Error</th>
              <th scope="col">Retry in</th>
            </tr>
          </thead>
          <tbody>
            {result.attempts_log.map((attempt, i) => (
              <tr key={i}>
                <td>
                  <Time iso={attempt.at} />
                </td>
                <td>{attempt.http_status ?? '–'}</td>
                <td>{attempt.duration_ms} ms</td>
                <td>{attempt.error ? <>{attempt.error.code}: <bdi>{attempt.error.message}</bdi></> : '–'}</td>
                <td>{attempt.retry_in_ms === null ? '–' : `${attempt.retry_in_ms} ms`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {result.request && (
        <details class="request">
          <summary>
            Request: {result.request.method} <code><bdi>{result.request.url}</bdi></code>
          </summary>
          <table>
            <tbody>
              {Object.entries(result.request.headers).map(([name, value]) => (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td><bdi>{value}</bdi></td>
                </tr>
              ))}
              <tr>
                <th scope="row">body</th>
                <td>{result.request.body_bytes} bytes (not stored)</td>
              </tr>
            </tbody>
          </table>
        </details>
      )}
      <Json value={result.data} label="Data" />
    </article>
  );
}
