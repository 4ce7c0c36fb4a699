/**
 * The one writer of all log output. Lines come with the service and pid the master names
 * (with each child's pipe it hands over, or with each line it relays itself), so a child
 * cannot log in another's name: those two fields are always overwritten with the master's
 * attribution.
 */
import fs from 'node:fs';
import { levelName, LEVEL_NUMBERS, TurnBuffer, type LogLevel } from '@loft/log';
import type { LogErrorEntry, LogLine } from '@loft/master-protocol';
import type { LogSettings } from './settings.js';

export class LogWriter {
  private fd: number;
  private readonly errors: LogErrorEntry[] = [];
  /** Lines of this turn of the event loop, written together at its end (one write(2)). */
  private readonly buffer = new TurnBuffer((text) => this.writeNow(text));

  constructor(private settings: LogSettings) {
    this.fd = this.open();
    process.once('exit', this.buffer.flush);
  }

  /** Re-read settings (reload) and reopen the file. */
  configure(settings: LogSettings): void {
    this.settings = settings;
    this.reopen();
  }

  /** logrotate moved the file away: start a new one at log_path. */
  reopen(): void {
    this.buffer.flush();
    const previous = this.fd;
    this.fd = this.open();
    if (previous !== 2 && previous !== this.fd) fs.closeSync(previous);
  }

  write(entry: LogLine): void {
    const record = parseLine(entry);
    const level = typeof record.level === 'number' ? record.level : LEVEL_NUMBERS.info;
    if (level < LEVEL_NUMBERS[this.settings.log_level as LogLevel]) return;
    if (level >= LEVEL_NUMBERS.error) this.remember(record, level);
    const text = this.settings.log_format === 'text' ? formatText(record, level) : JSON.stringify(record);
    this.buffer.add(text + '\n');
  }

  recentErrors(since = 0): LogErrorEntry[] {
    return this.errors.filter((e) => e.time >= since);
  }

  private remember(record: Record<string, unknown>, level: number): void {
    this.errors.push({
      time: typeof record.time === 'number' ? record.time : Date.now(),
      service: String(record.service),
      pid: Number(record.pid),
      level: levelName(level),
      msg: typeof record.msg === 'string' ? record.msg : '',
    });
    const excess = this.errors.length - this.settings.log_errors_keep;
    if (excess > 0) this.errors.splice(0, excess);
  }

  private open(): number {
    if (!this.settings.log_path) return 2;
    try {
      return fs.openSync(this.settings.log_path, 'a', 0o600);
    } catch (err) {
      fs.writeSync(2, `loft/log: cannot open log_path ${this.settings.log_path}: ${(err as Error).message}; logging to stderr\n`);
      return 2;
    }
  }

  private writeNow(text: string): void {
    try {
      fs.writeSync(this.fd, text);
    } catch {
      // A full disk must not kill the log service; the lines are lost, stderr may still work.
      if (this.fd !== 2) fs.writeSync(2, text);
    }
  }
}

/** A relayed line as a record; a line that is not pino JSON (a crash trace) becomes one. */
export function parseLine(entry: LogLine): Record<string, unknown> {
  let record: Record<string, unknown> | undefined;
  if (entry.line.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(entry.line);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) record = parsed as Record<string, unknown>;
    } catch {
      record = undefined;
    }
  }
  record ??= { level: LEVEL_NUMBERS.error, time: Date.now(), msg: entry.line };
  record.service = entry.service;
  record.pid = entry.pid;
  return record;
}

function formatText(record: Record<string, unknown>, level: number): string {
  const { time, service, pid, msg, level: _level, ...rest } = record;
  const when = new Date(typeof time === 'number' ? time : Date.now()).toISOString();
  const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
  return `${when} ${String(service)}[${String(pid)}]: ${levelName(level)}: ${String(msg ?? '')}${extra}`;
}
