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

export class LogRelay {
  private sink: ChildProcess | undefined;
  private readonly queue: LogLine[] = [];
  private dropped = 0;
  private flushQueued = false;

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
    while (this.queue.length > 0) {
      const lines = this.queue.splice(0, LOG_BATCH_MAX_LINES);
      const message: MasterToChild = { type: 'log-lines', lines };
      try {
        sink.send(message);
      } catch {
        this.queue.unshift(...lines);
        return;
      }
    }
  }

  private readLines(stream: Readable, onLine: (line: string) => void): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      if (partial.length > LOG_LINE_MAX_BYTES) {
        parts.push(partial.slice(0, LOG_LINE_MAX_BYTES) + ' [truncated]');
        partial = '';
      }
      for (const line of parts) if (line) onLine(line.length > LOG_LINE_MAX_BYTES ? line.slice(0, LOG_LINE_MAX_BYTES) + ' [truncated]' : line);
    });
    stream.on('end', () => {
      if (partial) onLine(partial);
    });
    stream.on('error', () => undefined);
  }
}
