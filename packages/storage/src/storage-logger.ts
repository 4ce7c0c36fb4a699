/**
 * The slice of a pino logger that storage uses; services pass their session's child logger.
 * Without one, storage stays silent.
 */
export interface StorageLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => undefined;

export const SILENT_LOGGER: StorageLogger = { debug: noop, info: noop, warn: noop, error: noop };
