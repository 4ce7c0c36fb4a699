/** Errors found in conf files: where, which code, what, and a hint. */
import type { ErrorCode } from '@loft/errors';

/** A place in a conf file. */
export interface ConfLocation {
  /** Absolute path, or the path as given for /dev/stdin. */
  file: string;
  /** 1-based; 0 when the error concerns the whole file (it could not be read). */
  line: number;
}

export interface ConfError extends ConfLocation {
  code: ErrorCode;
  message: string;
  /**
   * A known setting name close to the unknown one (printed as "did you mean 'x'?"), or,
   * when the name belongs elsewhere, a sentence saying where (contains spaces, printed as is).
   */
  suggestion?: string;
}

/** A location plus its position in reading order across all files (includes are read inline). */
export interface OrderedLocation extends ConfLocation {
  order: number;
}

export interface OrderedConfError extends ConfError {
  order: number;
}

export function confError(at: OrderedLocation, code: ErrorCode, message: string, suggestion?: string): OrderedConfError {
  const error: OrderedConfError = { file: at.file, line: at.line, order: at.order, code, message };
  if (suggestion !== undefined) error.suggestion = suggestion;
  return error;
}

/** Errors in the order their lines were read; errors of one line keep the order they were found in. */
export function inReadingOrder(errors: readonly OrderedConfError[]): ConfError[] {
  return [...errors].sort((a, b) => a.order - b.order).map(({ order: _order, ...error }) => error);
}

/** `file:line: message (did you mean 'log_path'?)` */
export function formatConfError(error: ConfError): string {
  const where = error.line > 0 ? `${error.file}:${error.line}` : error.file;
  return `${where}: ${error.message}${error.suggestion === undefined ? '' : ` (${suggestionText(error.suggestion)})`}`;
}

function suggestionText(suggestion: string): string {
  return /\s/.test(suggestion) ? suggestion : `did you mean '${suggestion}'?`;
}
