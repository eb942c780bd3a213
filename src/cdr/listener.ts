/** Hooks the ingester calls as it goes (CDR and CMR files alike); the CLI draws a progress bar or writes logs from them. */
export interface IngestListener {
  /** `bytes` read since the last call (including skipped lines), `records` data lines among them. */
  advance?(bytes: number, records: number): void;
  rejectedRecord?(file: string, line: number, reason: string): void;
}
