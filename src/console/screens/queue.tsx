import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox } from '../components/status';
import { useEvery } from '../router';
import type { Stats } from '../types';

const FINAL = ['completed', 'partial', 'failed', 'unmatched'] as const;

/** The queue now: job counts, workers seen, open circuits, calls finished per minute by status (a chart, and the same as a table). */
export function QueueScreen() {
  const [stats, setStats] = useState<Stats>();
  const [error, setError] = useState<unknown>();
  const load = useCallback(() => {
    api<Stats>('/v1/stats').then(
      (answer) => {
        setStats(answer);
        setError(undefined);
      },
      (e: unknown) => setError(e),
    );
  }, []);
  useEffect(load, [load]);
  useEvery(5000, load);

  if (error) return <ErrorBox error={error} />;
  if (!stats) return <p class="loading">Loading the queue…</p>;
  const { jobs, workers, finished_per_minute: minutes } = stats.queue;
  const highest = Math.max(1, ...minutes.map((m) => FINAL.reduce((sum, s) => sum + m[s], 0)));
  return (
    <section aria-labelledby="queue-title">
      <h1 id="queue-title">Queue</h1>
      <div class="counters">
        {(['waiting', 'active', 'delayed', 'failed'] as const).map((state) => (
          <div class={`counter counter-${state}${jobs[state] > 0 ? ' nonzero' : ''}`} key={state}>
            <span class="value">{jobs[state].toLocaleString()}</span>
            <span class="label">{state}</span>
          </div>
        ))}
        <div class="counter" title={workers ? undefined : 'This Redis does not let callhook list its clients (CLIENT disabled or renamed, as on Memorystore)'}>
          <span class="value">{workers ? workers.length : '?'}</span>
          <span class="label">worker connections</span>
        </div>
      </div>
      <h2>Circuits</h2>
      {stats.circuits.length === 0 ? (
        <p class="muted">Every destination answers: no circuit is open.</p>
      ) : (
        <table class="circuits">
          <thead>
            <tr>
              <th scope="col">Destination</th>
              <th scope="col">State</th>
              <th scope="col">Failures</th>
              <th scope="col">Open until</th>
            </tr>
          </thead>
          <tbody>
            {stats.circuits.map((c) => (
              <tr key={c.destination}>
                <td>
                  <code>{c.destination}</code>
                </td>
                <td class={`circuit-${c.state}`}>{c.state === 'open' ? 'open: calls wait' : 'half open: one probe out'}</td>
                <td>{c.failures}</td>
                <td>{new Date(c.open_until).toLocaleTimeString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Calls finished per minute, last 30 minutes</h2>
      <svg class="chart" viewBox={`0 0 ${minutes.length * 10} 100`} preserveAspectRatio="none" role="img" aria-label="Calls finished per minute by status; the table below has the numbers">
        {minutes.map((m, i) => {
          let y = 100;
          return FINAL.map((status) => {
            const h = (m[status] / highest) * 100;
            y -= h;
            return <rect key={`${i}-${status}`} class={`bar-${status}`} x={i * 10 + 1} y={y} width={8} height={h} />;
          });
        })}
      </svg>
      <p class="legend">
        {FINAL.map((s) => (
          <span key={s} class={`swatch bar-${s}`}>
            {s}
          </span>
        ))}
      </p>
      <details>
        <summary>The same as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Minute</th>
              {FINAL.map((s) => (
                <th scope="col" key={s}>
                  {s}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {minutes.map((m) => (
              <tr key={m.minute}>
                <td>{new Date(m.minute).toLocaleTimeString()}</td>
                {FINAL.map((s) => (
                  <td key={s}>{m[s]}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      {workers && workers.length > 0 && (
        <>
          <h2>Workers</h2>
          <ul>
            {workers.map((w, i) => (
              <li key={`${w.name}-${i}`}>
                <code>{w.name || '(unnamed)'}</code> <span class="muted">idle {w.idle_s} s</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
