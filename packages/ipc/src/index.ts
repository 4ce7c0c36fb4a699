/**
 * @loft/ipc: length-prefixed msgpack frames over UNIX sockets, carrying typed
 * request/response calls and streamed replies, correlated by id. The wire format is
 * documented in wire-messages.ts; framing in frame.ts.
 */
export { IPC_MAX_FRAME_BYTES_DEFAULT, encodeFrame, FrameDecoder } from './frame.js';
export type { Protocol, ProtocolShape, IpcLogger, RequestContext, Handler, Handlers } from './protocol.js';
export { IpcServer, IPC_SOCKET_MODE_DEFAULT, type IpcServerOptions } from './server.js';
export { IpcClient, IPC_REQUEST_TIMEOUT_MS_DEFAULT, type IpcClientOptions, type CallOptions } from './client.js';
export { IpcRemoteError } from './client-calls.js';
export { ReconnectingClient, type ReconnectingClientOptions } from './reconnecting-client.js';
