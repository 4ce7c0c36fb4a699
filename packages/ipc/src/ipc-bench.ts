/**
 * Measures @loft/ipc over a real UNIX socket, server and client in this process. It prints
 * nothing; the caller reports the figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { IpcClient } from './client.js';
import { IpcServer } from './server.js';
import type { Handlers } from './protocol.js';

export interface IpcBenchOptions {
  /** Total time to measure, in ms, split evenly over the three figures. */
  durationMs: number;
}

export interface IpcBenchResult {
  /** One request in flight at a time. */
  roundTripsPerSecond: number;
  /** PIPELINE_DEPTH requests in flight on one connection. */
  pipelinedRoundTripsPerSecond: number;
  /** Payload of STREAM_CHUNK_BYTES Buffer chunks; 1 MB = 1,000,000 bytes. */
  streamMegabytesPerSecond: number;
}

interface BenchProtocol {
  echo: { params: number; result: number };
  blobs: { params: { chunkBytes: number }; result: Buffer };
}

const PIPELINE_DEPTH = 64;
const STREAM_CHUNK_BYTES = 64 * 1024;
const BYTES_PER_MEGABYTE = 1_000_000;
/** Enough calls for the JIT to settle before the clock starts. */
const WARMUP_ROUND_TRIPS = 2_000;

const benchHandlers: Handlers<BenchProtocol> = {
  echo: (n) => n,
  async *blobs({ chunkBytes }, { signal }) {
    const chunk = Buffer.alloc(chunkBytes, 0x61);
    while (!signal.aborted) yield chunk;
  },
};

export async function runIpcBench(options: IpcBenchOptions): Promise<IpcBenchResult> {
  const phaseMs = options.durationMs / 3;
  const dir = await mkdtemp(join(tmpdir(), 'loft-ipc-bench-'));
  const server = new IpcServer<BenchProtocol>(benchHandlers, { name: 'ipc-bench' });
  let client: IpcClient<BenchProtocol> | undefined;
  try {
    const path = join(dir, 'bench.sock');
    await server.listen(path);
    client = await IpcClient.connect<BenchProtocol>(path, { timeoutMs: 0 });
    for (let i = 0; i < WARMUP_ROUND_TRIPS; i++) await client.request('echo', i);
    return {
      roundTripsPerSecond: await measureRoundTrips(client, phaseMs, 1),
      pipelinedRoundTripsPerSecond: await measureRoundTrips(client, phaseMs, PIPELINE_DEPTH),
      streamMegabytesPerSecond: await measureStream(client, phaseMs),
    };
  } finally {
    client?.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Round trips per second with `inFlight` callers each waiting for its own reply. */
async function measureRoundTrips(client: IpcClient<BenchProtocol>, durationMs: number, inFlight: number): Promise<number> {
  const started = performance.now();
  const deadline = started + durationMs;
  let completed = 0;
  const caller = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await client.request('echo', completed);
      completed++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, caller));
  return completed / secondsSince(started);
}

async function measureStream(client: IpcClient<BenchProtocol>, durationMs: number): Promise<number> {
  const started = performance.now();
  const deadline = started + durationMs;
  let bytes = 0;
  for await (const chunk of client.stream('blobs', { chunkBytes: STREAM_CHUNK_BYTES })) {
    bytes += chunk.length;
    if (performance.now() >= deadline) break;
  }
  return bytes / BYTES_PER_MEGABYTE / secondsSince(started);
}

function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
