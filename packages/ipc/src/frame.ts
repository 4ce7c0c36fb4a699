/**
 * Framing: each frame is a 4-byte unsigned big-endian payload length followed by one
 * msgpack value. The length bounds what a peer can make us buffer, so it is checked
 * before any of the payload is kept.
 */
// msgpackr/pack is msgpackr without its optional native string extractor: probing for that
// addon (node-gyp-build asks detect-libc which libc this is) took ~55 ms of CPU at the start
// of every process, and the frames are small, so IPC round trips ran as fast without it.
import { Packr } from 'msgpackr/pack';
import type { Options } from 'msgpackr';
import { LoftError, describeError } from '@loft/errors';

/** Largest payload (bytes, excluding the 4-byte prefix) a peer may send us by default. */
export const IPC_MAX_FRAME_BYTES_DEFAULT = 16 * 1024 * 1024;

const FRAME_PREFIX_BYTES = 4;
/** What the 4-byte prefix can express; the hard ceiling of any limit. */
const FRAME_PAYLOAD_MAX_BYTES = 0xffff_ffff;

/**
 * One codec for both directions, set up for bytes from an untrusted peer: plain maps become
 * plain objects (never records or shared structures, which would let one frame change how
 * the next is read), and the structured-clone id/pointer extensions, which can build cyclic
 * objects, are refused. 64-bit integers become numbers when they are safe, else BigInt.
 * Buffers travel as msgpack bin.
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  moreTypes: false,
  // msgpackr 1.12 implements 'auto' but its typings omit it.
  int64AsType: 'auto' as Options['int64AsType'],
});

/**
 * Encodes one value as a frame. Throws LoftError LOFT_E_IPC_BAD_FRAME when the value cannot
 * be encoded (a cycle, an unsupported type), LOFT_E_IPC_FRAME_TOO_LARGE when its payload is
 * larger than `maxFrameBytes`, so a sender fails its own call instead of making the peer drop
 * the connection.
 */
export function encodeFrame(value: unknown, maxFrameBytes = FRAME_PAYLOAD_MAX_BYTES): Buffer {
  let payload: Buffer;
  try {
    payload = packr.pack(value);
  } catch (err) {
    throw new LoftError('LOFT_E_IPC_BAD_FRAME', `value cannot be encoded: ${describeError(err)}`, { cause: err });
  }
  const limitBytes = Math.min(maxFrameBytes, FRAME_PAYLOAD_MAX_BYTES);
  if (payload.length > limitBytes) {
    throw new LoftError('LOFT_E_IPC_FRAME_TOO_LARGE', tooLargeDetail(payload.length, limitBytes));
  }
  const frame = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, FRAME_PREFIX_BYTES);
  return frame;
}

/**
 * Turns a byte stream back into values. Received chunks are kept in a list, not
 * concatenated on arrival, so a large frame that arrives in many pieces is copied once.
 * After push() has thrown, the stream is out of step and the decoder refuses more input.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #bufferedBytes = 0;
  /** Payload length of the frame being received; -1 while its prefix is incomplete. */
  #payloadBytes = -1;
  #failure: LoftError | undefined;

  constructor(maxFrameBytes = IPC_MAX_FRAME_BYTES_DEFAULT) {
    this.maxFrameBytes = Math.min(maxFrameBytes, FRAME_PAYLOAD_MAX_BYTES);
  }

  /**
   * Feeds bytes; returns the values of the frames they complete. Throws LoftError
   * LOFT_E_IPC_FRAME_TOO_LARGE as soon as a prefix exceeds the limit, and
   * LOFT_E_IPC_BAD_FRAME when a payload is not exactly one msgpack value.
   */
  push(chunk: Buffer): unknown[] {
    if (this.#failure) throw this.#failure;
    this.#chunks.push(chunk);
    this.#bufferedBytes += chunk.length;
    const values: unknown[] = [];
    try {
      while (this.#frameReady()) {
        const payload = this.#take(this.#payloadBytes);
        this.#payloadBytes = -1;
        values.push(decodePayload(payload));
      }
    } catch (err) {
      this.#failure = err as LoftError;
      throw err;
    }
    return values;
  }

  /** Reads the next prefix when needed; true once the whole payload is buffered. */
  #frameReady(): boolean {
    if (this.#payloadBytes < 0) {
      if (this.#bufferedBytes < FRAME_PREFIX_BYTES) return false;
      const payloadBytes = this.#take(FRAME_PREFIX_BYTES).readUInt32BE(0);
      if (payloadBytes > this.maxFrameBytes) {
        throw new LoftError('LOFT_E_IPC_FRAME_TOO_LARGE', tooLargeDetail(payloadBytes, this.maxFrameBytes));
      }
      this.#payloadBytes = payloadBytes;
    }
    return this.#bufferedBytes >= this.#payloadBytes;
  }

  /** Removes `byteCount` bytes from the front; copies only when they span chunks. */
  #take(byteCount: number): Buffer {
    // An empty payload is checked by its decoder; there may be no chunk left to cut it from.
    if (byteCount === 0) return Buffer.alloc(0);
    this.#bufferedBytes -= byteCount;
    const first = this.#chunks[0];
    if (first.length >= byteCount) {
      if (first.length === byteCount) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(byteCount);
      return first.subarray(0, byteCount);
    }
    return this.#takeSpanning(byteCount);
  }

  #takeSpanning(byteCount: number): Buffer {
    const out = Buffer.allocUnsafe(byteCount);
    let filled = 0;
    while (filled < byteCount) {
      const chunk = this.#chunks[0];
      const used = Math.min(chunk.length, byteCount - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

function decodePayload(payload: Buffer): unknown {
  // An empty payload would decode to undefined; no encoder writes one.
  if (payload.length === 0) throw new LoftError('LOFT_E_IPC_BAD_FRAME', 'frame has an empty payload');
  try {
    return packr.unpack(payload);
  } catch (err) {
    throw new LoftError('LOFT_E_IPC_BAD_FRAME', `payload of ${payload.length} bytes is not one msgpack value: ${describeError(err)}`, {
      cause: err,
    });
  }
}

function tooLargeDetail(payloadBytes: number, limitBytes: number): string {
  return `frame of ${payloadBytes} bytes exceeds the ${limitBytes}-byte limit`;
}
