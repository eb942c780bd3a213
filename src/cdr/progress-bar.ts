/** Formats seconds as m:ss or h:mm:ss. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * One progress line: bar, records, records/s and ETA. Progress is measured in bytes (file
 * sizes are known up front, record counts are not), rates over the whole run so far.
 */
export function renderProgress(p: { bytes: number; totalBytes: number; records: number; elapsedMs: number; width?: number }): string {
  const fraction = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 0;
  const width = p.width ?? 24;
  const filled = Math.round(fraction * width);
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? p.records / seconds : 0;
  const bytesRate = seconds > 0 ? p.bytes / seconds : 0;
  const eta = bytesRate > 0 ? (p.totalBytes - p.bytes) / bytesRate : Number.NaN;
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ` +
    `${p.records.toLocaleString('en-US')} records  ${Math.round(rate).toLocaleString('en-US')} rec/s  ETA ${formatEta(eta)}`
  );
}
