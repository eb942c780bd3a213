/** A status as text with a colour: colour helps, the word carries the meaning. */
export function Status({ value }: { value: string }) {
  return <span class={`status status-${value}`}>{value}</span>;
}

/** An error answer from the API, with its problems. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error as { message?: string; code?: string; problems?: string[] };
  return (
    <div class="error" role="alert">
      <strong>{e.code ?? 'error'}</strong>: <bdi>{e.message ?? String(error)}</bdi>
      {e.problems && e.problems.length > 0 && (
        <ul>
          {e.problems.map((p) => (
            <li key={p}><bdi>{p}</bdi></li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** An ISO time as the browser's local time, with the ISO text kept for the title. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span class="muted">–</span>;
  const date = new Date(iso);
  return <time dateTime={iso} title={iso}>{Number.isNaN(date.getTime()) ? iso : date.toLocaleString()}</time>;
}
