/**
 * pino set-up shared by every Loft process. A service process writes JSON lines to its
 * stderr; the master reads them and relays them to the log service, which attributes each
 * line to the service and pid it really came from and writes it to `log_path`.
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
  /** Where lines go; default stderr, written synchronously so a fatal line before exit is not lost. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
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
