/**
 * Children write log lines to their stdout/stderr pipes; the master reads them and relays
 * them to the log service, adding the service and pid it knows each pipe belongs to. A
 * child's own word about who it is never counts. While the log service is down (start-up,
 * a crash) lines wait in a bounded queue; past the bound the oldest are dropped and the
 * count is logged when it is back. A child that floods cannot make the master grow.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { LogLine, MasterToChild } from '@loft/master-protocol';

const LOG_LINE_MAX_BYTES = 16 * 1024;
const LOG_QUEUE_MAX_LINES = 20_000;
const LOG_BATCH_MAX_LINES = 500;
/** Batches handed to the IPC channel and not yet written: Node would buffer without bound. */
const LOG_BATCHES_IN_FLIGHT_MAX = 4;

export class LogRelay {
  private sink: ChildProcess | undefined;
  private readonly queue: LogLine[] = [];
  private dropped = 0;
  private flushQueued = false;
  private inFlight = 0;

  /** Read a child's output pipes line by line. */
  attach(child: ChildProcess, service: string): void {
    const pid = child.pid ?? 0;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) this.readLines(stream, (line) => this.push({ service, pid, line }));
    }
  }

  push(entry: LogLine): void {
    if (this.queue.length >= LOG_QUEUE_MAX_LINES) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(entry);
    this.scheduleFlush();
  }

  /** The log service process, or undefined while there is none. */
  setSink(sink: ChildProcess | undefined): void {
    this.sink = sink;
    this.inFlight = 0;
    if (sink) this.scheduleFlush();
  }

  /** Last resort when no log service will come (start-up failed, final exit). */
  drainToStderr(): void {
    for (const entry of this.queue.splice(0)) process.stderr.write(`${entry.line}\n`);
  }

  private scheduleFlush(): void {
    if (this.flushQueued || !this.sink) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    const sink = this.sink;
    if (!sink || !sink.connected) return;
    if (this.dropped > 0) {
      const line = JSON.stringify({ level: 40, time: Date.now(), msg: `log queue overflowed, ${this.dropped} lines dropped` });
      this.queue.unshift({ service: 'master', pid: process.pid, line });
      this.dropped = 0;
    }
    while (this.queue.length > 0 && this.inFlight < LOG_BATCHES_IN_FLIGHT_MAX) {
      const lines = this.queue.splice(0, LOG_BATCH_MAX_LINES);
      const message: MasterToChild = { type: 'log-lines', lines };
      this.inFlight++;
      try {
        sink.send(message, undefined, {}, () => {
          if (this.sink !== sink) return;
          this.inFlight--;
          this.scheduleFlush();
        });
      } catch {
        this.inFlight--;
        this.queue.unshift(...lines);
        return;
      }
    }
  }

  /**
   * Split a pipe into lines. A line longer than the bound is cut once, and the rest of it
   * (up to its newline) is dropped, so one endless line costs one log line, not thousands.
   */
  private readLines(stream: Readable, onLine: (line: string) => void): void {
    let partial = '';
    let discarding = false;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
        if (!discarding) {
          const line = partial + chunk.slice(start, nl);
          if (line) onLine(line.length > LOG_LINE_MAX_BYTES ? `${line.slice(0, LOG_LINE_MAX_BYTES)} [truncated]` : line);
        }
        partial = '';
        discarding = false;
        start = nl + 1;
      }
      if (discarding) return;
      partial += chunk.slice(start);
      if (partial.length > LOG_LINE_MAX_BYTES) {
        onLine(`${partial.slice(0, LOG_LINE_MAX_BYTES)} [truncated]`);
        partial = '';
        discarding = true;
      }
    });
    stream.on('end', () => {
      if (partial && !discarding) onLine(partial);
    });
    stream.on('error', () => undefined);
  }
}
