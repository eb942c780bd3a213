/**
 * The bidi controls (embeddings, overrides, isolates, marks): drawn, they reorder the text after
 * them, so a value "invoice\u202egnp.exe" reads "invoiceexe.png" and a key's quote can land
 * among its value. Formatted JSON shows them escaped instead.
 */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `JSON.stringify(value, null, 2)` with every bidi control written as a `\u` escape (`\u202e`), as
 * JSON.stringify writes a lone surrogate: still JSON, parsing to the same value, read as stored.
 * (Outside strings formatted JSON has no such character, so only strings change.)
 */
export function formatJson(value: unknown): string | undefined {
  return JSON.stringify(value, null, 2)?.replace(BIDI_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A JSON value, collapsible (closed unless `open`), shown as formatted text. */
export function Json({ value, label = 'JSON', open = false }: { value: unknown; label?: string; open?: boolean }) {
  const text = formatJson(value) ?? 'undefined';
  return (
    <details class="json" open={open}>
      <summary>
        {label} <span class="muted">({text.length.toLocaleString()} characters)</span>
      </summary>
      <pre>{text}</pre>
    </details>
  );
}
