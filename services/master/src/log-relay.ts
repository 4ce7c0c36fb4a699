/**
 * Children write log lines to their stdout/stderr pipes. While the log service runs, the
 * master hands it each pipe (it keeps its own copy, unread): the log service reads the
 * lines straight from the child, as Dovecot's log process does, and attributes them to the
 * service and pid the master named with the pipe. A child's own word about who it is never
 * counts. While there is no log service (start-up, a crash) the master reads the pipes
 * itself and keeps the lines in a bounded queue; past the bound the oldest are dropped and
 * the count is logged when it is back. A child that floods cannot make the master grow.
 *
 * Measured before the hand-off (LMTP benchmark, a log line per delivery): reading every
 * line and passing it on over IPC cost the master ~0.05 ms of CPU per line, 3% of a
 * delivery, and woke it for every line of every child.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LineSplitter } from '@loft/log';
import type { LogLine, MasterToChild } from '@loft/master-protocol';

const LOG_QUEUE_MAX_LINES = 20_000;
const LOG_BATCH_MAX_LINES = 500;
/** Batches handed to the IPC channel and not yet written: Node would buffer without bound. */
const LOG_BATCHES_IN_FLIGHT_MAX = 4;

/** One output pipe of a child. */
interface Source {
  readonly stream: Readable;
  readonly service: string;
  readonly pid: number;
  readonly splitter: LineSplitter;
  /** The log service reading it, if one is. */
  reader: ChildProcess | undefined;
}

/** The libuv side of a pipe's stream: stopping it is the only way to stop reading at once. */
interface PipeHandle {
  reading?: boolean;
  readStop?(): number;
}

export class LogRelay {
  private sink: ChildProcess | undefined;
  private readonly queue: LogLine[] = [];
  private readonly sources = new Set<Source>();
  private dropped = 0;
  private flushQueued = false;
  private inFlight = 0;

  /** Take a child's output pipes: the log service reads them, or the master until there is one. */
  attach(child: ChildProcess, service: string): void {
    const pid = child.pid ?? 0;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      const source: Source = { stream, service, pid, splitter: new LineSplitter((line) => this.push({ service, pid, line })), reader: undefined };
      this.sources.add(source);
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => source.splitter.push(chunk));
      stream.on('end', () => source.splitter.end());
      stream.on('error', () => undefined);
      stream.once('close', () => this.sources.delete(source));
      if (this.sink?.connected) this.handOff(source, this.sink);
    }
    // The master's copy of a handed-off pipe is never read, so it never ends: close it with
    // the child (the log service reads what the child left in it).
    child.once('exit', () => {
      for (const source of this.sources) if (source.pid === pid && source.reader) source.stream.destroy();
    });
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
    for (const source of this.sources) {
      // Its reader is gone: read it here again (what the old reader held of a line is lost).
      if (source.reader && source.reader !== sink) this.readHere(source);
      if (sink && !source.reader) this.handOff(source, sink);
    }
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
   * Stop reading a pipe here and send it, with the line begun in it, to the log service.
   * The master keeps its copy open: if the log service dies, it reads the pipe again.
   */
  private handOff(source: Source, sink: ChildProcess): void {
    const handle = (source.stream as unknown as { _handle?: PipeHandle })._handle;
    if (!handle?.readStop) return;
    source.stream.pause();
    if (handle.reading) {
      handle.reading = false;
      handle.readStop();
    }
    const message: MasterToChild = { type: 'log-pipe', service: source.service, pid: source.pid, partial: source.splitter.partial, discarding: source.splitter.discarding };
    source.reader = sink;
    source.splitter.partial = '';
    source.splitter.discarding = false;
    const failed = (): void => {
      if (source.reader === sink) this.readHere(source);
    };
    try {
      sink.send(message, source.stream as never, { keepOpen: true }, (err) => {
        if (err) failed();
      });
    } catch {
      failed();
    }
  }

  /** Read a pipe in the master again (its splitter was emptied when it was handed off). */
  private readHere(source: Source): void {
    source.reader = undefined;
    source.stream.resume();
  }
}
