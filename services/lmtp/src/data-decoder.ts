/**
 * The DATA body as a stream: removes dot-stuffing, turns bare LF into CRLF (a message is
 * stored with CRLF line ends, as IMAP serves it) and finds the terminating `.` line. Works
 * on chunks as they arrive, so no line is ever buffered whole: line length does not bound
 * memory here.
 */
const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');

export interface DecodeResult {
  /** Message bytes decoded from this chunk, in order. */
  output: Buffer[];
  /** Set once the terminating line was seen: the bytes after it (pipelined commands). */
  rest?: Buffer;
}

export class DataDecoder {
  private atLineStart = true;
  /** The last byte emitted was CR (a CR LF pair split across chunks). */
  private lastWasCr = false;
  /** Bytes at a line start that cannot be judged until more arrive (".", ".\r"). */
  private carry: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): DecodeResult {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    const output: Buffer[] = [];
    let i = 0;
    while (i < data.length) {
      if (this.atLineStart && data[i] === DOT) {
        const end = this.terminatorEnd(data, i);
        if (end === 'more') {
          this.carry = Buffer.from(data.subarray(i));
          return { output };
        }
        if (end !== undefined) return { output, rest: Buffer.from(data.subarray(end)) };
        i++; // a stuffed dot: drop it
      }
      this.atLineStart = false;
      const nl = data.indexOf(LF, i);
      if (nl < 0) {
        output.push(data.subarray(i));
        this.lastWasCr = data[data.length - 1] === CR;
        break;
      }
      const crBefore = nl > i ? data[nl - 1] === CR : this.lastWasCr;
      if (crBefore) output.push(data.subarray(i, nl + 1));
      else output.push(data.subarray(i, nl), CRLF);
      this.atLineStart = true;
      this.lastWasCr = false;
      i = nl + 1;
    }
    return { output };
  }

  /** Offset after ".\r\n" or ".\n" at `i`; undefined if the dot starts a text line; 'more' if unknown yet. */
  private terminatorEnd(data: Buffer, i: number): number | undefined | 'more' {
    if (i + 1 >= data.length) return 'more';
    if (data[i + 1] === LF) return i + 2;
    if (data[i + 1] !== CR) return undefined;
    if (i + 2 >= data.length) return 'more';
    return data[i + 2] === LF ? i + 3 : undefined;
  }
}
