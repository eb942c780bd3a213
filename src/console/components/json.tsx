/** A JSON value, collapsible (closed unless `open`), shown as formatted text. */
export function Json({ value, label = 'JSON', open = false }: { value: unknown; label?: string; open?: boolean }) {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  return (
    <details class="json" open={open}>
      <summary>
        {label} <span class="muted">({text.length.toLocaleString()} characters)</span>
      </summary>
      <pre>{text}</pre>
    </details>
  );
}
