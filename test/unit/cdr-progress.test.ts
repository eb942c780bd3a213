import { formatEta, renderProgress } from '../../src/cdr/progress-bar';
import { emptySummary } from '../../src/cdr/ingest';
import { formatSummary, terminalReporter } from '../../src/cdr/report';

describe('progress line', () => {
  it('shows the bar, records, records/s and ETA', () => {
    expect(renderProgress({ bytes: 250, totalBytes: 1000, records: 5000, elapsedMs: 2000, width: 8 })).toBe('[##------]  25%  5,000 records  2,500 rec/s  ETA 0:06');
  });
  it('formats ETAs', () => {
    expect(formatEta(59.6)).toBe('1:00');
    expect(formatEta(3725)).toBe('1:02:05');
    expect(formatEta(Number.NaN)).toBe('--:--');
  });
});

describe('terminal reporter', () => {
  it('draws the bar, prints messages above it and ends with the summary', () => {
    let out = '';
    let t = 0;
    const reporter = terminalReporter({ write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream, () => t);
    reporter.begin(1000);
    t = 1000;
    reporter.advance?.(500, 1200);
    reporter.rejectedRecord?.('/x/cdr_a', 7, 'has 3 fields; the header has 133');
    t = 2000;
    const summary = { ...emptySummary(), files: 1, records: 1200, queued: 1199, rejected: 1, quality_joined: 1100, cmr_files: 1, cmr_unmatched: 3, elapsed_ms: 2000 };
    reporter.finish(summary, false);
    expect(out).toContain('1,200 records  1,200 rec/s  ETA 0:01');
    expect(out).toContain('\r\x1b[K/x/cdr_a:7: rejected: has 3 fields; the header has 133\n');
    expect(out.endsWith(`${formatSummary(summary, false)}\n`)).toBe(true);
    expect(formatSummary(summary, false)).toMatch(/queued {6}1199/);
  });

  it('shows a file name with escape sequences as text: a dropped file cannot redraw the terminal', () => {
    let out = '';
    const reporter = terminalReporter({ write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream, () => 0);
    const evil = '/x/evil\u001b[2K\u001b[1A\u001b[31mALL OK\u001b[0m\u202e';
    reporter.fileEnd?.(evil, { kind: 'not-cdr', reason: 'empty', movedTo: `${evil}.moved` });
    reporter.rejectedRecord?.(evil, 4, 'bad');
    reporter.fileError?.(evil, new Error(`ENOENT: no such file or directory, open '${evil}'`));
    reporter.warn(`${evil}: file name is not valid UTF-8`);
    expect(out).not.toMatch(/\u001b\[(2K|1A|31m|0m)|\u202e/);
    expect(out).toContain('/x/evil\\u001b[2K\\u001b[1A\\u001b[31mALL OK\\u001b[0m\\u202e: not a CDR or CMR file');
  });
});
