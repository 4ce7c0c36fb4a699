/**
 * loftadm: steer and inspect a running loftd, as doveadm does Dovecot. Every command takes
 * -f table|tab|json and --base-dir. When loftd is not running it says so in one line and
 * exits 2 (EXIT_NOT_RUNNING), so scripts can tell that apart from a failed command (1).
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { describeError } from '@loft/errors';
import { hashPassword, PASSWORD_SCHEMES } from '@loft/auth';
import type { IpcClient } from '@loft/ipc';
import type { FilterContext, MasterControlProtocol } from '@loft/master-protocol';
import { connectMaster, findBaseDir, NotRunningError } from './master-client.js';
import { formatDuration, formatRows, OUTPUT_FORMATS, type OutputFormat } from './output.js';
import { expungeCommand, fetchCommand, flagsCommand, forceResyncCommand, importCommand, indexCommand, mailboxCommand, purgeCommand, quotaCommand, saveCommand, searchCommand } from './mail-commands.js';

const EXIT_FAILED = 1;
const EXIT_NOT_RUNNING = 2;

interface GlobalArgs {
  format: OutputFormat;
  'base-dir'?: string;
}

type Master = IpcClient<MasterControlProtocol>;

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** `-f` is taken by the output format here, so filters come as --filter protocol=imap. */
function parseFilter(pairs: string[] | undefined): FilterContext | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const filter: FilterContext = {};
  for (const pair of pairs) {
    const [key, ...rest] = pair.split('=');
    if (key !== 'protocol' && key !== 'local' && key !== 'remote' && key !== 'user') throw new Error(`--filter takes protocol=, local=, remote= or user=; got '${pair}'`);
    filter[key] = rest.join('=');
  }
  return filter;
}

/** yargs types each command's own options; the global ones are always there too. */
function global(args: object): GlobalArgs {
  return args as GlobalArgs;
}

/** Connect, run, print, close; every error becomes one line on stderr and an exit code. */
async function withMaster(args: GlobalArgs, action: (master: Master) => Promise<string>): Promise<void> {
  let master: Master | undefined;
  try {
    master = await connectMaster(findBaseDir(args['base-dir']));
    process.stdout.write(await action(master));
  } catch (err) {
    process.stderr.write(`loftadm: ${describeError(err)}\n`);
    process.exitCode = err instanceof NotRunningError ? EXIT_NOT_RUNNING : EXIT_FAILED;
  } finally {
    master?.close();
  }
}

function processCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command('status', 'List every process of loftd', (s) => s.option('service', { type: 'string', describe: 'Only this service' }), (args) =>
    withMaster(args, async (m) => {
      const now = Date.now();
      const rows = (await m.request('process-status', { service: args.service })).map((p) => ({
        pid: p.pid, service: p.service, uid: p.uid, gid: p.gid, generation: p.generation,
        clients: p.clients, available: p.available, state: p.state,
        uptime: args.format === 'json' ? now - p.started : formatDuration(now - p.started),
      }));
      return formatRows(rows, ['pid', 'service', 'uid', 'gid', 'generation', 'clients', 'available', 'state', 'uptime'], args.format);
    }),
  ).demandCommand(1, 'loftadm process: name a subcommand (status)');
}

function serviceCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y
    .command('status', 'List services with their limits and processes', {}, (args) =>
      withMaster(global(args), async (m) => {
        const rows = (await m.request('service-status', {})).map((s) => ({
          name: s.name, processes: s.processes, process_limit: s.process_limit, process_min_avail: s.process_min_avail,
          client_limit: s.client_limit, clients: s.clients,
          throttled: s.throttled_until ? `${Math.ceil((s.throttled_until - Date.now()) / 1000)}s` : 'no',
          listeners: s.listeners.join(' ') || '-',
        }));
        return formatRows(rows, ['name', 'processes', 'process_limit', 'process_min_avail', 'client_limit', 'clients', 'throttled', 'listeners'], global(args).format);
      }))
    .command('stop <name>', 'Stop every process of a service (new ones start when needed)', (s) => s.positional('name', { type: 'string', demandOption: true }), (args) =>
      withMaster(args, async (m) => {
        const { stopped } = await m.request('service-stop', { service: args.name });
        return formatRows([{ service: args.name, stopped }], ['service', 'stopped'], args.format);
      }))
    .demandCommand(1, 'loftadm service: name a subcommand (status, stop)');
}

function logCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y
    .command('errors', 'Show recent error lines kept by the log service', (s) => s.option('since', { type: 'number', describe: 'Only errors after this UNIX time (seconds)' }), (args) =>
      withMaster(args, async (m) => {
        const since = args.since ? args.since * 1000 : undefined;
        const rows = (await m.request('log-errors', { since })).map((e) => ({
          time: new Date(e.time).toISOString(), service: e.service, pid: e.pid, level: e.level, message: e.msg,
        }));
        return formatRows(rows, ['time', 'service', 'pid', 'level', 'message'], args.format);
      }))
    .command('reopen', 'Reopen the log file (after logrotate moved it)', {}, (args) =>
      withMaster(global(args), async (m) => {
        await m.request('log-reopen', {});
        return global(args).format === 'json' ? '{"ok":true}\n' : '';
      }))
    .demandCommand(1, 'loftadm log: name a subcommand (errors, reopen)');
}

await yargs(hideBin(process.argv))
  .scriptName('loftadm')
  .usage('$0 <command> [options]\n\nInspect and steer a running loftd.')
  .option('format', { alias: 'f', choices: OUTPUT_FORMATS, default: 'table' as OutputFormat, describe: 'Output format' })
  .option('base-dir', { type: 'string', describe: 'loftd base directory (default: $LOFT_BASE_DIR, ./var, /run/loft)' })
  .command('process', 'Processes of loftd', processCommands)
  .command('service', 'Services of loftd', serviceCommands)
  .command('log', 'The log service', logCommands)
  .command('config', 'Print the running configuration, as loftconf prints a file', (y) => y
    .option('n', { type: 'boolean', describe: 'Settings that differ from their defaults (the default)' })
    .option('a', { type: 'boolean', describe: 'Every setting' })
    .option('d', { type: 'boolean', describe: 'Every setting\'s default' })
    .option('P', { type: 'boolean', describe: 'Show secrets' })
    .option('filter', { type: 'string', array: true, describe: 'Filter context: protocol=, local=, remote=, user=' }), (args) =>
    withMaster(global(args), async (m) => {
      const mode = args.a ? 'all' : args.d ? 'defaults' : 'non-default';
      const { text, generation } = await m.request('config-dump', { mode, showSecrets: args.P ?? false, filter: parseFilter(args.filter) });
      return global(args).format === 'json' ? `${JSON.stringify({ generation, text })}\n` : text;
    }))
  .command('who [user]', 'Who is logged in (as doveadm who)', (y) => y
    .positional('user', { type: 'string', describe: 'Only this user' })
    .option('1', { type: 'boolean', describe: 'One line per connection' }), (args) =>
    withMaster(global(args), async (m) => {
      const sessions = await m.request('who', { user: args.user });
      if (args['1'] || global(args).format === 'json') {
        const rows = sessions.map((s) => ({ username: s.user, service: s.service, pid: s.pid, ip: s.remoteIp, started: new Date(s.started).toISOString() }));
        return formatRows(rows, ['username', 'service', 'pid', 'ip', 'started'], global(args).format);
      }
      const groups = new Map<string, { username: string; connections: number; service: string; pids: Set<number>; ips: Set<string> }>();
      for (const s of sessions) {
        const key = `${s.user}\0${s.service}`;
        const group = groups.get(key) ?? { username: s.user, connections: 0, service: s.service, pids: new Set<number>(), ips: new Set<string>() };
        group.connections++;
        group.pids.add(s.pid);
        group.ips.add(s.remoteIp);
        groups.set(key, group);
      }
      const rows = [...groups.values()].map((g) => ({ username: g.username, '#': g.connections, proto: g.service, pids: `(${[...g.pids].join(' ')})`, ips: `(${[...g.ips].join(' ')})` }));
      return formatRows(rows, ['username', '#', 'proto', 'pids', 'ips'], global(args).format);
    }))
  .command('kick <user>', 'End every session of a user', (y) => y.positional('user', { type: 'string', demandOption: true }), (args) =>
    withMaster(global(args), async (m) => {
      const { kicked } = await m.request('kick', { user: args.user });
      return formatRows([{ user: args.user, kicked }], ['user', 'kicked'], global(args).format);
    }))
  .command('pw', 'Hash a password (as doveadm pw); reads it from -p or standard input', (y) => y
    .option('s', { type: 'string', default: 'SHA512-CRYPT', describe: `Scheme: ${PASSWORD_SCHEMES.join(', ')}` })
    .option('p', { type: 'string', describe: 'The password (visible in ps; prefer standard input)' }), async (args) => {
    try {
      const password = args.p ?? (await readStdinLine());
      process.stdout.write(`${await hashPassword(password, args.s)}\n`);
    } catch (err) {
      process.stderr.write(`loftadm: ${describeError(err)}\n`);
      process.exitCode = EXIT_FAILED;
    }
  })
  .command('auth', 'Ask auth as a login would', (y) => y
    .command('test <user> [password]', 'Check a password: the passdb verdict and extra fields, then the userdb fields', (z) => z
      .positional('user', { type: 'string', demandOption: true })
      .positional('password', { type: 'string' })
      .option('service', { type: 'string', default: 'imap' }), (args) =>
      withMaster(global(args), async (m) => {
        const password = args.password ?? (await readStdinLine());
        const result = await m.request('auth-test', { user: args.user, password, service: args.service });
        if (result.result !== 'ok') process.exitCode = EXIT_FAILED;
        if (global(args).format === 'json') return `${JSON.stringify(result, null, 2)}\n`;
        const fields: Record<string, string> = result.result === 'ok'
          ? { result: 'passdb: ok', user: result.user, ...result.passdbExtra, ...(result.userdb?.result === 'ok' ? { uid: String(result.userdb.uid), gid: String(result.userdb.gid), home: result.userdb.home, ...(result.userdb.mail ? { mail: result.userdb.mail } : {}) } : { userdb: result.userdb?.result ?? 'none' }) }
          : { result: `passdb: ${result.result}`, user: result.user, ...(result.reason ? { reason: result.reason } : {}) };
        return formatRows(Object.entries(fields).map(([field, value]) => ({ field, value })), ['field', 'value'], global(args).format);
      }))
    .demandCommand(1, 'loftadm auth: name a subcommand (test)'))
  .command('user <user>', 'Show a user\'s userdb fields (uid, gid, home, mail)', (y) => y
    .positional('user', { type: 'string', demandOption: true })
    .option('service', { type: 'string', default: 'imap' }), (args) =>
    withMaster(global(args), async (m) => {
      const result = await m.request('user-lookup', { user: args.user, service: args.service });
      if (result.result !== 'ok') {
        process.exitCode = EXIT_FAILED;
        return formatRows([{ user: result.user, result: result.result, reason: result.reason ?? '' }], ['user', 'result', 'reason'], global(args).format);
      }
      const fields: Record<string, string> = { user: result.user, uid: String(result.uid), gid: String(result.gid), home: result.home, ...(result.mail ? { mail: result.mail } : {}), ...result.extra };
      return formatRows(Object.entries(fields).map(([field, value]) => ({ field, value })), ['field', 'value'], global(args).format);
    }))
  .command('reload', 'Re-read the configuration; a broken one changes nothing', {}, (args) =>
    withMaster(global(args), async (m) => {
      const { generation } = await m.request('reload', {});
      return formatRows([{ reloaded: true, generation }], ['reloaded', 'generation'], global(args).format);
    }))
  .command(mailboxCommand)
  .command(saveCommand)
  .command(fetchCommand)
  .command(searchCommand)
  .command(expungeCommand)
  .command(flagsCommand)
  .command(indexCommand)
  .command(forceResyncCommand)
  .command(purgeCommand)
  .command(quotaCommand)
  .command(importCommand)
  .command('stop', 'Stop loftd and every service', {}, (args) =>
    withMaster(global(args), async (m) => {
      await m.request('stop', {});
      return global(args).format === 'json' ? '{"stopping":true}\n' : '';
    }))
  .demandCommand(1, 'Name a command; see loftadm --help')
  .strict()
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`loftadm: ${msg} (see loftadm --help)\n`);
    process.exit(EXIT_FAILED);
  })
  .help()
  .parseAsync();
