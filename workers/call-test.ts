import type { Command } from 'commander';
import { formatCallTest } from '../src/call-test/format';
import { parseCallTest, runCallTest } from '../src/call-test/run';
import { Redactor } from '../src/util/redact';
import { closeHttpClient, createHttpClient, proxySecrets } from '../src/webhook/http-client';
import { proxyEnvOf } from '../src/settings';
import { OAuthTokenCache } from '../src/webhook/oauth';
import { HttpSender } from '../src/webhook/send';
import { loadOrExit, repeatable } from './cli-support';
import { jsonFor } from '../src/util/terminal';

interface CallTestOptions {
  policy: string;
  calling: string;
  called: string;
  field: string[];
  phase: string;
  config?: string;
  json?: boolean;
}

/**
 * `callhook call-test`: runs a policy now, in this process (no Redis needed), and prints each
 * app's request, response, result and unresolved variables. Exit 0 when no app failed, 1 when
 * one did, 2 when it cannot run: bad options, a bad event, an unknown policy, a policies file or
 * a setting it cannot load.
 */
export function registerCallTest(program: Command): void {
  program
    .command('call-test')
    .description("run a policy's apps now and show every request and result")
    .requiredOption('--policy <id>', 'policy to run')
    .requiredOption('--calling <number>', 'calling number ("" for a call without caller id, as CUCM sends it)')
    .requiredOption('--called <number>', 'called number')
    .option('--field <key=value>', 'another event field (repeatable)', repeatable, [])
    .option('--phase <phase>', 'all, post_call or real_time', 'all')
    .option('--config <file>', 'policies file')
    .option('--json', 'print the raw JSON report')
    // 1 means "an app failed": a usage error (a missing --policy, an unknown option) is a 2.
    .exitOverride((error) => process.exit(error.exitCode === 1 ? 2 : error.exitCode))
    .action(async (opts: CallTestOptions) => {
      // A policies file or a setting it cannot load is "cannot run" (2), not "an app failed" (1).
      const { config, settings } = loadOrExit(process.env, opts.config, 2);
      const fields: Record<string, string> = {};
      for (const pair of opts.field) {
        const at = pair.indexOf('=');
        if (at <= 0) {
          process.stderr.write(`callhook: --field ${pair}: expected key=value\n`);
          process.exit(2);
        }
        fields[pair.slice(0, at)] = pair.slice(at + 1);
      }
      const input = parseCallTest(config, { ...fields, policy: opts.policy, calling_number: opts.calling, called_number: opts.called, phase: opts.phase });
      if (!input.ok) {
        for (const problem of input.problems) process.stderr.write(`callhook: ${problem}\n`);
        process.exit(2);
      }
      const proxyEnv = proxyEnvOf(process.env);
      const http = createHttpClient({ proxyEnv });
      try {
        const sender = new HttpSender(http, new OAuthTokenCache(http));
        const report = await runCallTest(input, { sender, redactor: new Redactor([...config.secrets, ...proxySecrets(proxyEnv)]) }, { curriTimeoutMs: settings.curriTimeoutMs });
        process.stdout.write(opts.json ? `${jsonFor(process.stdout)(JSON.stringify(report, null, 2))}\n` : formatCallTest(report));
        process.exitCode = report.ok ? 0 : 1;
      } finally {
        closeHttpClient(http);
      }
    });
}
