#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../src/version';
import { registerCalls } from './calls';
import { registerCallTest } from './call-test';
import { registerExport } from './export';
import { registerDemo } from './demo';
import { registerIngestCdr } from './ingest-cdr';
import { registerReplay } from './replay';
import { registerResults } from './results';
import { loadConfigOrExit } from './cli-support';
import { serve } from './serve';

const program = new Command('callhook')
  .description('Runs webhook apps for every completed call, on BullMQ and Redis')
  .version(VERSION);

program
  .command('start')
  .description('API and worker in one process')
  .option('--config <file>', 'policies file (default: $CALLHOOK_CONFIG or config/policies.yaml)')
  .action(async (opts: { config?: string }) => {
    await serve({ api: true, worker: true, configPath: opts.config, allowPrivateRedis: true });
  });

program
  .command('api')
  .description('the HTTP API alone')
  .option('--config <file>', 'policies file')
  .action(async (opts: { config?: string }) => {
    await serve({ api: true, worker: false, configPath: opts.config });
  });

program
  .command('worker')
  .description('a worker alone (run as many as you like on one Redis)')
  .option('--config <file>', 'policies file')
  .action(async (opts: { config?: string }) => {
    await serve({ api: false, worker: true, configPath: opts.config });
  });

program
  .command('config')
  .description('policies file tools')
  .command('check')
  .description('validate the policies file; exit 1 with one line per problem, 0 with any warnings on stderr')
  .argument('[file]', 'policies file')
  .option('--config <file>', 'policies file')
  .action((file: string | undefined, opts: { config?: string }) => {
    const config = loadConfigOrExit(process.env, file ?? opts.config);
    for (const warning of config.warnings) process.stderr.write(`callhook: warning: ${warning}\n`);
    const apps = config.policies.reduce((n, p) => n + p.apps.length, 0);
    const warnings = config.warnings.length === 0 ? '' : `, ${config.warnings.length} warning${config.warnings.length === 1 ? '' : 's'}`;
    process.stdout.write(`${config.source}: OK (${config.policies.length} policies, ${apps} apps${warnings})\n`);
  });

registerIngestCdr(program);

registerCallTest(program);
registerReplay(program);
registerCalls(program);
registerResults(program);
registerExport(program);
registerDemo(program);

// A reader that stops early (`callhook results | head`) closes the pipe: stop quietly, as Unix
// tools do, instead of an unhandled EPIPE with a stack. A feed consumer (--group) acknowledges
// only what it wrote to stdout: the entries it had not written stay pending for another consumer,
// but the lines the reader left unread in the pipe were acknowledged (README, --group).
// Any other failure to write (`> /dev/full`, a disk full, an I/O error) ends the command with one
// line, as other errors do, not with an uncaught exception's stack.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  process.stderr.write(`callhook: stdout: ${error.message}\n`);
  process.exit(1);
});

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`callhook: ${(error as Error).message}\n`);
  process.exit(1);
});
