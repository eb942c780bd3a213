/** Voice-quality metrics of one call leg as the phone reported them: `CCR`, `ICR`, `MLQK`... */
export type VqMetrics = Record<string, number | string>;

/** Metrics that are text even when they look like numbers. */
const TEXT_METRICS = new Set(['VoRxCodec']);
/** A metric name callhook keeps: a name that is safe as a template path segment. */
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * Parses CMR `varVQMetrics` (`CCR=0.0011;ICR=0.0000;ICRmx=0.0034;CS=1;SCS=0;Ver=0.90;VoRxCodec=G.711 u-la;...`)
 * into an object: decimal values become numbers (`CCR` 0.0011, `CS` 1, `MLQK` 4.5), anything
 * else (`VoRxCodec`) stays text. Items without `=` or with a name that is not a plain
 * identifier are left out (the raw string stays in `cmr.varVQMetrics`). Returns null when the
 * string holds no metric (a device that reports none).
 */
export function parseVqMetrics(raw: string): VqMetrics | null {
  if (raw === '') return null;
  const metrics: VqMetrics = {};
  let any = false;
  for (const item of raw.split(';')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const name = item.slice(0, eq).trim();
    if (!METRIC_NAME.test(name)) continue;
    const value = item.slice(eq + 1).trim();
    metrics[name] = !TEXT_METRICS.has(name) && DECIMAL.test(value) ? Number(value) : value;
    any = true;
  }
  return any ? metrics : null;
}
