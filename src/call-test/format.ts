import { printable } from '../util/terminal';
import type { CallTestReport } from './run';

/** Call Test as readable text for a terminal: per app, the request, the response, the result and the unresolved variables. */
export function formatCallTest(report: CallTestReport): string {
  const lines: string[] = [];
  const { event } = report;
  lines.push(`Call Test · policy ${report.policy} · phase ${report.phase} · call ${report.call_id}`);
  lines.push(`calling ${event.calling_number} → called ${event.called_number}`);
  if (report.apps.length === 0) lines.push('', 'this policy has no apps in that phase');
  report.apps.forEach((app, i) => {
    lines.push('', `${i + 1}. ${app.name} (${app.slug}) · ${app.phase} · order ${app.order}`);
    if (app.request) {
      lines.push(`   ${app.request.method} ${app.request.url}`);
      for (const [name, value] of Object.entries(app.request.headers)) lines.push(`   ${name}: ${value}`);
      if (app.request.body !== undefined) lines.push(`   body: ${JSON.stringify(app.request.body)}`);
    }
    const r = app.result;
    const status = r.http_status === null ? '' : `HTTP ${r.http_status} · `;
    lines.push(`   → ${status}${r.status.toUpperCase()} · ${r.duration_ms} ms · attempts ${r.attempts}`);
    lines.push(`   message: ${r.message}`);
    if (r.error) lines.push(`   error: ${r.error.code}: ${r.error.message}`);
    if (r.data !== null) lines.push(`   data: ${truncate(JSON.stringify(r.data), 2000)}`);
    for (const u of app.unresolved) lines.push(`   unresolved: {{ ${u.path} }} — ${u.hint}`);
  });
  if (report.curri) {
    lines.push('', `CURRI answer to CUCM (${report.curri.outcome}${report.curri.error ? `: ${report.curri.error}` : ''}):`, `   ${report.curri.xml}`);
  }
  const failed = report.apps.filter((a) => a.result.status === 'failed').length;
  lines.push('', failed === 0 ? `OK: ${report.apps.length} app(s), none failed` : `FAILED: ${failed} of ${report.apps.length} app(s) failed`);
  // Event fields and receivers' answers are untrusted: nothing in them reaches the terminal as a control.
  return `${lines.map(printable).join('\n')}\n`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}
