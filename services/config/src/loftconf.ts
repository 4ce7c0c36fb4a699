/**
 * loftconf: check and print configuration, as doveconf does. It runs the config service's
 * own parsing and validation offline (Dovecot keeps doveconf in src/config for the same
 * reason), so what it accepts is exactly what loftd accepts.
 *
 *   loftconf [-c FILE]            check; every error listed, exit 1 if any
 *   loftconf -n | -a | -d         non-default / all / default settings, as conf syntax
 *   loftconf -h SETTING           a setting's description, type and default
 *   loftconf -f protocol=imap …   settings as a process in that context sees them
 *   -P                            show secrets (hidden otherwise)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { formatConf, formatSettings, formatValue, type FilterContext, type FormatOptions } from '@loft/settings';
import { LOFT_ROOT, LOFT_VERSION, createRegistry, loadConfiguration } from './config-state.js';
import { PluginLoader } from './plugin-loader.js';

const DEFAULT_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'etc', 'loft.conf');
const FILTER_KEYS = ['protocol', 'local', 'remote', 'user'] as const;
const EXIT_INVALID = 1;
const EXIT_USAGE = 64;

const argv = yargs(hideBin(process.argv))
  .scriptName('loftconf')
  .usage('$0 [-c FILE] [-n|-a|-d] [-h SETTING] [-f KEY=VALUE]... [-P]\n\nCheck and print Loft configuration.')
  .option('config', { alias: 'c', type: 'string', default: DEFAULT_CONFIG, describe: 'Configuration file (/dev/stdin works)' })
  .option('non-default', { alias: 'n', type: 'boolean', describe: 'Print settings that differ from their defaults' })
  .option('all', { alias: 'a', type: 'boolean', describe: 'Print every setting' })
  .option('defaults', { alias: 'd', type: 'boolean', describe: 'Print every setting\'s default' })
  .option('describe', { alias: 'h', type: 'string', describe: 'Describe one setting (e.g. service/client_limit)' })
  .option('filter', { alias: 'f', type: 'string', array: true, describe: 'Filter context: protocol=, local=, remote=, user=' })
  .option('show-secrets', { alias: 'P', type: 'boolean', describe: 'Show secret values' })
  .help('help')
  .strict()
  .parseSync();

const loaded = await loadConfiguration(path.resolve(argv.config), new PluginLoader(LOFT_ROOT, LOFT_VERSION));
const { snapshot, registry } = loaded;

if (argv.describe !== undefined) {
  // Plugin settings can be described only when the config loads them; core ones always.
  const info = registry.describe(argv.describe) ?? createRegistry().describe(argv.describe);
  if (!info) {
    process.stderr.write(`loftconf: unknown setting '${argv.describe}'\n`);
    process.exit(EXIT_INVALID);
  }
  const shown = info.kind === 'section' ? '(section)' : formatValue(info.default, info.kind);
  const choices = info.enum ? `\nvalues: ${info.enum.join(', ')}` : '';
  process.stdout.write(`${info.path} (${info.kind}, from ${info.owner})\n${info.description}\ndefault: ${shown === '' ? '(empty)' : shown}${choices}\n`);
  process.exit(0);
}

if (loaded.errors.length > 0) {
  for (const error of loaded.errors) process.stderr.write(`${error}\n`);
  process.stderr.write(`loftconf: ${argv.config}: ${loaded.errors.length} error(s)\n`);
  process.exit(EXIT_INVALID);
}

const filter = parseFilter(argv.filter ?? []);
const mode: FormatOptions['mode'] | undefined = argv.all ? 'all' : argv.defaults ? 'defaults' : argv['non-default'] ? 'non-default' : undefined;
const options = (m: FormatOptions['mode']): FormatOptions => ({ mode: m, showSecrets: argv['show-secrets'] ?? false });
if (filter) process.stdout.write(formatSettings(snapshot.resolve(filter), registry, options(mode ?? 'non-default')));
else if (mode) process.stdout.write(formatConf(snapshot, registry, options(mode)));
else process.stderr.write(`loftconf: ${argv.config}: ok\n`);

function parseFilter(pairs: string[]): FilterContext | undefined {
  if (pairs.length === 0) return undefined;
  const filter: FilterContext = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq) as (typeof FILTER_KEYS)[number];
    if (eq <= 0 || !FILTER_KEYS.includes(key)) {
      process.stderr.write(`loftconf: -f takes ${FILTER_KEYS.map((k) => `${k}=`).join(', ')}; got '${pair}'\n`);
      process.exit(EXIT_USAGE);
    }
    filter[key] = pair.slice(eq + 1);
  }
  return filter;
}
