/**
 * pino set-up shared by every Loft process. A service process writes JSON lines to its
 * stderr; the log service reads them from the pipe the master handed it (or the master
 * relays them while there is no log service), attributes each line to the service and pid
 * it really came from and writes it to `log_path`.
 */
import pino from 'pino';
import type { Logger, DestinationStream, LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Secrets never reach a log line, whatever object is logged. */
export const REDACT_PATHS = [
  'password', '*.password', 'pass', '*.pass', 'ssl_key', '*.ssl_key', 'settings.ssl_key', 'ticket', '*.ticket',
];

export interface LoggerOptions {
  service: string;
  level?: LogLevel | 'silent';
  /** Where lines go; default stderr (see StderrLines). */
  destination?: DestinationStream;
}

/**
 * Text gathered during one turn of the event loop and handed to `write` once, at its end
 * (setImmediate); flush() hands it over at once (at exit, before a log file is reopened).
 * One write(2) per turn instead of one per line: a write costs more than the line (a
 * wake-up of the reader), and a process delivering mail logs a line per message.
 */
export class TurnBuffer {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly write: (text: string) => void) {}

  add(text: string): void {
    this.pending.push(text);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.write(text);
  };
}

/**
 * stderr, through a TurnBuffer: the process reading the pipe (the log service) wakes once
 * for the lines of a turn. They are written synchronously when the process exits, so a
 * fatal line before exit is not lost; SIGKILL loses at most the lines of the turn it cut
 * short.
 */
class StderrLines implements DestinationStream {
  private readonly out = pino.destination({ dest: 2, sync: true });
  private readonly buffer = new TurnBuffer((text) => this.out.write(text));

  constructor() {
    process.once('exit', this.buffer.flush);
  }

  write(line: string): void {
    this.buffer.add(line);
  }
}

let stderrLines: StderrLines | undefined;

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? (stderrLines ??= new StderrLines());
  return pino(
    {
      level: (options.level ?? 'info') as LevelWithSilent,
      base: { service: options.service, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[hidden]' },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** pino's numeric levels, for code that reads JSON log lines. */
export const LEVEL_NUMBERS: Record<LogLevel, number> = {
  fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10,
};

export function levelName(level: unknown): LogLevel | 'unknown' {
  for (const name of LOG_LEVELS) if (LEVEL_NUMBERS[name] === level) return name;
  return 'unknown';
}

/**
 * A child logger made when it first writes. A pino child costs about 0.7 KiB (its level
 * functions and bindings), which a process with a thousand idle sessions pays a thousand
 * times for lines most sessions never write. `logger` makes the child; the level methods
 * write through it; `parent` with the same bindings serves a line that should not keep one.
 */
export class LazyChildLogger {
  private child: Logger | undefined;

  constructor(
    readonly parent: Logger,
    readonly bindings: Readonly<Record<string, unknown>>,
  ) {}

  get logger(): Logger {
    return (this.child ??= this.parent.child(this.bindings));
  }

  /** One line with the bindings, through the parent: no child is made for it. */
  once(level: 'info' | 'warn', obj: object, msg: string): void {
    if (this.child) this.child[level](obj, msg);
    else this.parent[level]({ ...this.bindings, ...obj }, msg);
  }

  debug(obj: object, msg?: string): void {
    if (this.parent.isLevelEnabled('debug')) this.logger.debug(obj, msg);
  }

  info(obj: object, msg?: string): void {
    this.logger.info(obj, msg);
  }

  warn(obj: object, msg?: string): void {
    this.logger.warn(obj, msg);
  }

  error(obj: object, msg?: string): void {
    this.logger.error(obj, msg);
  }
}

/** A log line longer than this is cut (see LineSplitter). */
export const LOG_LINE_MAX_BYTES = 16 * 1024;

/**
 * Splits the output of a child's pipe into lines. A line longer than LOG_LINE_MAX_BYTES is
 * cut once and the rest of it, up to its newline, dropped: one endless line costs one log
 * line, not thousands. The state (a line begun and not ended) can be handed to another
 * reader of the same pipe, as the master hands a child's pipes to the log service.
 */
export class LineSplitter {
  constructor(
    private readonly onLine: (line: string) => void,
    /** A line begun before this reader took over. */
    public partial = '',
    /** Within a cut line, dropping up to its newline. */
    public discarding = false,
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      if (!this.discarding) {
        const line = this.partial + chunk.slice(start, nl);
        if (line) this.onLine(line.length > LOG_LINE_MAX_BYTES ? `${line.slice(0, LOG_LINE_MAX_BYTES)} [truncated]` : line);
      }
      this.partial = '';
      this.discarding = false;
      start = nl + 1;
    }
    if (this.discarding) return;
    this.partial += chunk.slice(start);
    if (this.partial.length > LOG_LINE_MAX_BYTES) {
      this.onLine(`${this.partial.slice(0, LOG_LINE_MAX_BYTES)} [truncated]`);
      this.partial = '';
      this.discarding = true;
    }
  }

  /** The pipe ended: a last line without a newline still counts. */
  end(): void {
    if (this.partial && !this.discarding) this.onLine(this.partial);
    this.partial = '';
  }
}
