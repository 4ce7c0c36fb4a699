/** loft/log: writes every process's log lines to log_path and keeps recent errors. */
import net from 'node:net';
import { Writable } from 'node:stream';
import { requestSettings, runService } from '@loft/service-runtime';
import type { LogLine, MasterToChild as LogMessage } from '@loft/master-protocol';
import { LineSplitter, type Logger } from '@loft/log';
import { LogWriter } from './log-writer.js';
import type { LogSettings } from './settings.js';

let writer: LogWriter | undefined;
const ownLines: string[] = [];

// The log service's own lines go straight into its writer, not through the master.
const ownDestination = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n')) {
      if (!line) continue;
      const entry: LogLine = { service: 'log', pid: process.pid, line };
      if (writer) writer.write(entry);
      else ownLines.push(line);
    }
    done();
  },
});

// Lines logged before the writer exists (a failed start-up) must not vanish.
process.on('exit', () => {
  if (!writer) for (const line of ownLines) process.stderr.write(`${line}\n`);
});

const ctx = await runService({
  logDestination: ownDestination,
  start(context) {
    writer = new LogWriter(context.settings as unknown as LogSettings);
    for (const line of ownLines.splice(0)) writer.write({ service: 'log', pid: process.pid, line });
  },
  onMessage(message, context, handle) {
    if (message.type === 'log-lines') for (const line of message.lines) writer?.write(line);
    else if (message.type === 'log-pipe') readPipe(message, handle);
    else if (message.type === 'log-reopen') reopen(context.logger, 'loftd asked');
  },
  async onRequest(method, params, context) {
    if (method === 'log-errors') return writer?.recentErrors((params as { since?: number })?.since ?? 0) ?? [];
    if (method === 'log-reload') {
      writer?.configure((await requestSettings(context.name, {})) as unknown as LogSettings);
      return null;
    }
    throw new Error(`unknown request ${method}`);
  },
});

/** A child's output pipe, handed over by the master: its lines, as the service and pid the master named. */
function readPipe({ service, pid, partial, discarding }: Extract<LogMessage, { type: 'log-pipe' }>, handle: unknown): void {
  if (!(handle instanceof net.Socket)) return;
  const splitter = new LineSplitter((line) => writer?.write({ service, pid, line }), partial, discarding);
  handle.setEncoding('utf8');
  handle.on('data', (chunk: string) => splitter.push(chunk));
  handle.on('end', () => splitter.end());
  handle.on('error', () => undefined);
}

function reopen(logger: Logger, why: string): void {
  writer?.reopen();
  logger.info(`log file reopened (${why})`);
}

process.on('SIGUSR1', () => reopen(ctx.logger, 'SIGUSR1'));
