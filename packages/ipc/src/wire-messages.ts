/**
 * The messages inside frames. Each frame holds one msgpack map with one-letter keys, and
 * which keys are present says what the message is:
 *
 *   client -> server
 *     request  { i: id, m: method, p: params }
 *     cancel   { i: id }            stop a stream, or drop the reply to a timed-out request;
 *                                   ignored when the id is no longer in flight
 *   server -> client
 *     result   { i: id, r: result }
 *     error    { i: id, c: code, e: message }
 *                                   c is the thrown error's string `code`, or nil;
 *                                   LOFT_E_IPC_NO_METHOD means no handler has that name.
 *                                   e never carries a stack trace.
 *     chunk    { i: id, s: chunk }  one item of a streamed reply
 *     end      { i: id }            the stream is complete
 *
 * id is a positive safe integer the client picks, unique among its calls in flight (reusing
 * one is a bad frame). A value of undefined travels as msgpack's ext 0, so `r` and `p` are
 * present even when undefined.
 * Anything else (another key, a missing key, a key of the wrong type) is a bad frame.
 */

export type ClientMessage =
  | { kind: 'request'; id: number; method: string; params: unknown }
  | { kind: 'cancel'; id: number };

export type ServerMessage =
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; code: string | null; message: string }
  | { kind: 'chunk'; id: number; chunk: unknown }
  | { kind: 'end'; id: number };

/** A decoded message, or what is wrong with it (for the log line). */
export type Parsed<T> = { ok: true; message: T } | { ok: false; problem: string };

type WireMap = Record<string, unknown>;

/** Keeps a hostile peer's key list from flooding the log line that reports it. */
const PROBLEM_KEYS_MAX_CHARS = 80;

export function requestMessage(id: number, method: string, params: unknown): WireMap {
  return { i: id, m: method, p: params };
}

export function cancelMessage(id: number): WireMap {
  return { i: id };
}

export function resultMessage(id: number, result: unknown): WireMap {
  return { i: id, r: result };
}

export function errorMessage(id: number, code: string | null, message: string): WireMap {
  return { i: id, c: code, e: message };
}

export function chunkMessage(id: number, chunk: unknown): WireMap {
  return { i: id, s: chunk };
}

export function endMessage(id: number): WireMap {
  return { i: id };
}

export function parseClientMessage(value: unknown): Parsed<ClientMessage> {
  const envelope = parseEnvelope(value);
  if (!envelope.ok) return envelope;
  const { id, map, keys } = envelope.message;
  if (keys === 'i') return { ok: true, message: { kind: 'cancel', id } };
  if (keys === 'i,m,p') {
    if (typeof map.m !== 'string') return { ok: false, problem: `request ${id} has a method of type ${typeName(map.m)}` };
    return { ok: true, message: { kind: 'request', id, method: map.m, params: map.p } };
  }
  return { ok: false, problem: `message ${id} has keys {${keys}}, which is neither a request nor a cancel` };
}

export function parseServerMessage(value: unknown): Parsed<ServerMessage> {
  const envelope = parseEnvelope(value);
  if (!envelope.ok) return envelope;
  const { id, map, keys } = envelope.message;
  switch (keys) {
    case 'i':
      return { ok: true, message: { kind: 'end', id } };
    case 'i,r':
      return { ok: true, message: { kind: 'result', id, result: map.r } };
    case 'i,s':
      return { ok: true, message: { kind: 'chunk', id, chunk: map.s } };
    case 'c,e,i':
      return parseError(id, map);
    default:
      return { ok: false, problem: `message ${id} has keys {${keys}}, which is no kind of reply` };
  }
}

function parseError(id: number, map: WireMap): Parsed<ServerMessage> {
  if (map.c !== null && typeof map.c !== 'string') {
    return { ok: false, problem: `error reply ${id} has a code of type ${typeName(map.c)}` };
  }
  if (typeof map.e !== 'string') return { ok: false, problem: `error reply ${id} has a message of type ${typeName(map.e)}` };
  return { ok: true, message: { kind: 'error', id, code: map.c, message: map.e } };
}

/** Checks what every message shares: a plain map with a valid id; `keys` sorted, comma-joined. */
function parseEnvelope(value: unknown): Parsed<{ id: number; map: WireMap; keys: string }> {
  if (!isPlainObject(value)) return { ok: false, problem: `message of type ${typeName(value)} is not a map` };
  const id = value.i;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    const shown = typeof id === 'number' ? String(id) : `of type ${typeName(id)}`;
    return { ok: false, problem: `message id ${shown} is not a positive safe integer` };
  }
  const keys = Object.keys(value).sort().join(',');
  return { ok: true, message: { id, map: value, keys: keys.slice(0, PROBLEM_KEYS_MAX_CHARS) } };
}

function isPlainObject(value: unknown): value is WireMap {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}
