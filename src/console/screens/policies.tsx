import type { AppView, Policies } from '../types';

/** Each policy with its match rules and its apps in order; never a secret (the API sends auth types only). */
export function PoliciesScreen({ policies }: { policies: Policies | undefined }) {
  if (!policies) return <p class="loading">Loading policies…</p>;
  return (
    <section aria-labelledby="policies-title">
      <h1 id="policies-title">Policies</h1>
      <p class="muted">
        From <code>{policies.source}</code>.
      </p>
      {policies.problems.length > 0 ? (
        <div class="error" role="alert">
          <strong>config check</strong> finds problems in the file as it is now (the running process still uses what it loaded at start):
          <ul>
            {policies.problems.map((p) => (
              <li key={p}>
                <code>{p}</code>
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <p class="notice">config check: the file on disk is valid.</p>
      )}
      {policies.policies.map((policy) => (
        <article class="card" key={policy.id} aria-label={`Policy ${policy.id}`}>
          <h2>
            {policy.id} {policy.description && <span class="muted">{policy.description}</span>}
          </h2>
          <p>
            {policy.match
              ? Object.entries(policy.match).map(([field, pattern]) => (
                  <span key={field} class="rule">
                    <code>{field}</code> matches <code>{pattern}</code>
                  </span>
                ))
              : 'Runs only when an event names it (or as default).'}
          </p>
          {policy.apps.length === 0 ? (
            <p class="muted">No apps.</p>
          ) : (
            <table class="apps-table">
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">App</th>
                  <th scope="col">Phase</th>
                  <th scope="col">Request</th>
                  <th scope="col">Auth</th>
                  <th scope="col">Timeout</th>
                  <th scope="col">Retries</th>
                  <th scope="col">When</th>
                  <th scope="col">On failure</th>
                  <th scope="col">Delivery</th>
                </tr>
              </thead>
              <tbody>
                {policy.apps.map((app) => (
                  <tr key={app.slug}>
                    <td>{app.order}</td>
                    <td>
                      {app.name} <span class="muted">({app.slug})</span>
                    </td>
                    <td>{app.phase}</td>
                    <td>
                      {app.method} <code class="url">{app.url}</code>
                      {app.query.length > 0 && (
                        <div class="muted">query: {app.query.map(([k, v]) => `${k}=${v}`).join(', ')}</div>
                      )}
                      {app.headers.length > 0 && <div class="muted">headers: {app.headers.map(([k]) => k).join(', ')}</div>}
                    </td>
                    <td>{app.auth}</td>
                    <td>{app.timeout_ms} ms</td>
                    <td>
                      {app.retry_count} × from {app.retry_delay_ms} ms
                    </td>
                    <td>{app.when ? <code>{app.when}</code> : <span class="muted">always</span>}</td>
                    <td>{app.on_failure}</td>
                    <td>
                      <Delivery delivery={app.delivery} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </article>
      ))}
    </section>
  );
}

/** Rate limit, circuit, body format, signing and TLS, each only when it differs from plain JSON without limits. */
function Delivery({ delivery }: { delivery: AppView['delivery'] }) {
  const { rate_limit: limit, rate_limit_key: key, circuit } = delivery;
  return (
    <ul class="plain">
      <li>{limit ? `${limit}${key ? ` per ${key}` : ''}` : <span class="muted">no rate limit</span>}</li>
      <li>{circuit ? `circuit: ${circuit.failures} failures, open ${circuit.open_for_ms / 1000} s` : <span class="muted">circuit off</span>}</li>
      {delivery.body_format !== 'json' && <li>{delivery.body_format} body</li>}
      {delivery.signed && <li>signed</li>}
      {delivery.tls && <li>own TLS</li>}
    </ul>
  );
}
