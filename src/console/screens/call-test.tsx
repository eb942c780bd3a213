import { useState } from 'preact/hooks';
import { api } from '../api';
import { formatJson, Json } from '../components/json';
import { ErrorBox, Status } from '../components/status';
import type { CallTestReport, Policies } from '../types';

/**
 * Call Test, as the product's page: choose a policy, enter calling and called numbers and any
 * extra fields, choose the phase, Run. Each app's request (secrets redacted), response, result and
 * unresolved variables on the left; the raw JSON report on the right, copyable.
 */
export function CallTestScreen({ policies }: { policies: Policies | undefined }) {
  const [fields, setFields] = useState<{ key: string; value: string }[]>([]);
  const [report, setReport] = useState<CallTestReport>();
  const [error, setError] = useState<unknown>();
  const [running, setRunning] = useState(false);
  const [copied, setCopied] = useState(false);

  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const extra = Object.fromEntries(fields.filter((f) => f.key.trim() !== '').map((f) => [f.key.trim(), f.value]));
    setRunning(true);
    setCopied(false);
    try {
      setReport(
        await api<CallTestReport>('/v1/call-test', {
          method: 'POST',
          body: { ...extra, policy: form.get('policy'), calling_number: form.get('calling_number'), called_number: form.get('called_number'), phase: form.get('phase') },
        }),
      );
      setError(undefined);
    } catch (e) {
      setError(e);
      setReport(undefined);
    } finally {
      setRunning(false);
    }
  };
  const raw = report ? (formatJson(report) ?? '') : '';
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(raw);
      setCopied(true);
    } catch {
      const pre = document.getElementById('raw-json');
      if (pre) getSelection()?.selectAllChildren(pre);
    }
  };

  return (
    <section aria-labelledby="test-title">
      <h1 id="test-title">Call Test</h1>
      <form class="call-test" onSubmit={onSubmit}>
        <label>
          Policy
          <select name="policy" required>
            {policies?.policies.map((p) => (
              <option key={p.id} value={p.id}>
                {p.id}
                {p.description ? ` — ${p.description}` : ''}
              </option>
            ))}
          </select>
        </label>
        <label>
          Calling number
          <input name="calling_number" placeholder="+1 (555) 123-4567 (empty: no caller id)" />
        </label>
        <label>
          Called number
          <input name="called_number" required placeholder="1000" />
        </label>
        <label>
          Phase
          <select name="phase">
            <option value="all">all (real-time, then post-call)</option>
            <option value="real_time">real-time</option>
            <option value="post_call">post-call</option>
          </select>
        </label>
        <fieldset class="extra">
          <legend>Other event fields</legend>
          {fields.map((field, i) => (
            <div class="pair" key={i}>
              <input aria-label={`Field ${i + 1} name`} placeholder="calling_name" value={field.key} onInput={(e) => setFields(fields.map((f, j) => (j === i ? { ...f, key: (e.currentTarget as HTMLInputElement).value } : f)))} />
              <input aria-label={`Field ${i + 1} value`} placeholder="value" value={field.value} onInput={(e) => setFields(fields.map((f, j) => (j === i ? { ...f, value: (e.currentTarget as HTMLInputElement).value } : f)))} />
              <button type="button" onClick={() => setFields(fields.filter((_, j) => j !== i))} aria-label={`Remove field ${i + 1}`}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setFields([...fields, { key: '', value: '' }])}>
            Add Field
          </button>
        </fieldset>
        <button type="submit" disabled={running}>
          {running ? 'Running…' : 'Run Test'}
        </button>
      </form>
      <ErrorBox error={error} />
      {report && (
        <div class="split">
          <div class="results" aria-label="Results">
            <p class={report.ok ? 'notice' : 'error'} role="status">
              {report.ok ? 'No app failed.' : `${report.apps.filter((a) => a.result.status === 'failed').length} of ${report.apps.length} apps failed.`} Call{' '}
              <code><bdi>{report.call_id}</bdi></code>, policy {report.policy}, phase {report.phase}.
            </p>
            {report.apps.length === 0 && <p class="muted">This policy has no apps in that phase.</p>}
            {report.apps.map((app) => (
              <article class="card" key={app.slug} aria-label={`App ${app.slug}`}>
                <h3>
                  {app.order}. {app.name} <span class="muted">({app.slug}, {app.phase})</span> <Status value={app.result.status} />
                </h3>
                {app.request && (
                  <>
                    <p>
                      {app.request.method} <code class="url"><bdi>{app.request.url}</bdi></code>
                    </p>
                    <table>
                      <tbody>
                        {Object.entries(app.request.headers).map(([name, value]) => (
                          <tr key={name}>
                            <th scope="row">{name}</th>
                            <td><bdi>{value}</bdi></td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                    {app.request.body !== undefined && <Json value={app.request.body} label="Body" />}
                  </>
                )}
                {app.response && (
                  <p>
                    Response: {app.response.http_status === null ? 'none' : `HTTP ${app.response.http_status}`} in {app.response.duration_ms} ms
                  </p>
                )}
                <p>Message: <bdi>{app.result.message}</bdi></p>
                {app.result.error && (
                  <p class="error">
                    <strong>{app.result.error.code}</strong>: <bdi>{app.result.error.message}</bdi>
                  </p>
                )}
                {app.unresolved.length > 0 && (
                  <ul class="unresolved" aria-label="Unresolved variables">
                    {app.unresolved.map((u) => (
                      <li key={u.path}>
                        <code>{`{{ ${u.path} }}`}</code>: {u.hint}
                      </li>
                    ))}
                  </ul>
                )}
                <Json value={app.result.data} label="Data" />
              </article>
            ))}
            {report.curri && (
              <article class="card" aria-label="CURRI answer">
                <h3>
                  CURRI answer to CUCM <span class="muted">({report.curri.outcome})</span>
                </h3>
                {report.curri.error && <p class="error">{report.curri.error}</p>}
                <pre>{report.curri.xml}</pre>
              </article>
            )}
          </div>
          <aside class="raw" aria-label="Raw JSON">
            <div class="raw-head">
              <h2>Raw JSON</h2>
              <button type="button" onClick={copy}>
                {copied ? 'Copied' : 'Copy'}
              </button>
            </div>
            <pre id="raw-json">{raw}</pre>
          </aside>
        </div>
      )}
    </section>
  );
}
