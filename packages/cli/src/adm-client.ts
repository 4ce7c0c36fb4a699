/**
 * loftadm's connection to the adm service (run/adm.sock, root only): sends one mail command
 * and feeds the streamed rows to a sink, reassembling values that came in parts.
 */
import path from 'node:path';
import { IpcClient } from '@loft/ipc';
import { ADM_SOCKET_FILE, type AdmProtocol, type AdmRequest, type AdmValue } from '@loft/master-protocol';
import { NotRunningError } from './master-client.js';
import type { RowSink } from './mail-output.js';

export async function runAdmCommand(baseDir: string, request: AdmRequest, sink: RowSink): Promise<void> {
  const socketPath = path.join(baseDir, 'run', ADM_SOCKET_FILE);
  let client: IpcClient<AdmProtocol>;
  try {
    // No idle timeout: an import or force-resync may be silent for long; adm_worker_timeout bounds it.
    client = await IpcClient.connect<AdmProtocol>(socketPath, { timeoutMs: 0 });
  } catch (err) {
    const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    const why = code === 'EACCES' ? 'permission denied (mail commands need root)' : 'loftd or its adm service is not running';
    throw new NotRunningError(`${why}: cannot connect to ${socketPath}`, { cause: err });
  }
  let row: AdmValue[] | undefined;
  const flush = (): void => {
    if (row) sink.row(row);
    row = undefined;
  };
  try {
    for await (const chunk of client.stream('mail-command', request)) {
      if (chunk.kind === 'header') sink.header(chunk.columns);
      else if (chunk.kind === 'row') {
        flush();
        row = chunk.values;
      } else if (row) {
        const prev = row[chunk.column] ?? new Uint8Array(0);
        row[chunk.column] = Buffer.concat([typeof prev === 'string' ? Buffer.from(prev) : prev, chunk.data]);
      }
    }
    flush();
    sink.end();
  } finally {
    client.close();
  }
}
