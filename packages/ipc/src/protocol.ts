/** The types a protocol definition and its handlers are written against. */

/** method name -> { params, result }. For streaming methods `result` is the chunk type. */
export type Protocol = Record<string, { params: unknown; result: unknown }>;

/**
 * The constraint the server and client use. It accepts `Protocol` and also a protocol
 * declared as an `interface` (as in @loft/master-protocol), which TypeScript will not
 * assign to a Record because interfaces have no implicit index signature.
 */
export type ProtocolShape<P> = { [K in keyof P]: { params: unknown; result: unknown } };

/** pino-compatible subset, so a pino logger can be passed straight in. */
export interface IpcLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface RequestContext {
  /**
   * Aborted when the connection closes, and also when the client cancels this call (it
   * broke out of a stream, or its request timed out), so long handlers and streams can stop.
   */
  signal: AbortSignal;
  /** opaque per-connection id, for logs */
  connectionId: number;
}

/**
 * Params reach a handler exactly as the peer sent them: the wire layer checks the message
 * envelope only, so a handler validates params it cannot trust.
 */
export type Handler<P extends ProtocolShape<P>, K extends keyof P> = (
  params: P[K]['params'],
  ctx: RequestContext,
) => Promise<P[K]['result']> | P[K]['result'] | AsyncIterable<P[K]['result']>;

export type Handlers<P extends ProtocolShape<P>> = { [K in keyof P]: Handler<P, K> };

export const NOOP_LOGGER: IpcLogger = {
  error: () => {},
  warn: () => {},
  debug: () => {},
};
