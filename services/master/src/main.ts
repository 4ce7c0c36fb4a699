/**
 * loftd [-c FILE] [--base-dir DIR]: runs in the foreground (systemd Type=simple), logs to
 * the log service, exits 0 after a clean stop. SIGHUP reloads, SIGTERM/SIGINT stop,
 * SIGUSR1 reopens the log file.
 */
import path from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { describeError, isLoftError } from '@loft/errors';
import { EXIT } from '@loft/master-protocol';
import { startIdleCollector } from '@loft/service-runtime';
import { Master } from './master.js';

/** etc/loft.conf of this install: the embedded default config. */
const DEFAULT_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'etc', 'loft.conf');

// The master's young generation stays at its first size (1 MiB a semi-space): a burst of
// logins otherwise grows it to 16 MiB, pages that stay resident while nothing uses them.
// (Its services get --max-semi-space-size when forked; loftd itself is started by others.)
v8.setFlagsFromString('--semi-space-growth-factor=1');

const argv = yargs(hideBin(process.argv))
  .scriptName('loftd')
  .usage('$0 [-c FILE] [--base-dir DIR]\n\nThe Loft master daemon. Runs in the foreground.')
  .option('config', { alias: 'c', type: 'string', default: DEFAULT_CONFIG, describe: 'Configuration file' })
  .option('base-dir', { type: 'string', describe: 'Base directory (overrides base_dir)' })
  .strict()
  .help()
  .parseSync();

let exitCode: number = EXIT.OK;
const master = new Master({
  configFile: path.resolve(argv.config),
  baseDir: argv['base-dir'] ? path.resolve(argv['base-dir']) : undefined,
  onStopped: () => process.exit(exitCode),
});

// A bug in the master must not take every user's mail service down with it.
process.on('uncaughtException', (err) => master.logger.fatal({ err }, 'uncaught exception in master'));
process.on('unhandledRejection', (err) => master.logger.fatal({ err }, 'unhandled rejection in master'));

try {
  await master.start();
} catch (err) {
  process.stderr.write(`loftd: ${describeError(err)}\n`);
  master.relay.drainToStderr();
  exitCode = isLoftError(err, 'LOFT_E_CONF_INVALID') || isLoftError(err, 'LOFT_E_MASTER_CONFIG') ? EXIT.CONFIG : 1;
  await master.stop().catch(() => undefined);
  process.exit(exitCode);
}
startIdleCollector();

let stopRequested = false;
const stop = (signal: string): void => {
  if (stopRequested) return;
  stopRequested = true;
  master.logger.info(`${signal} received`);
  void master.stop();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGHUP', () => {
  master.logger.info('SIGHUP received, reloading configuration');
  master.reload().catch(() => undefined); // the failure is logged by reload itself
});
process.on('SIGUSR1', () => master.reopenLog());
